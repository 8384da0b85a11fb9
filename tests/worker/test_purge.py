"""The purge on SQLite and PostgreSQL: expired images and jobs go, shared and live ones stay."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from core.settings import RetentionOverride, Settings
from core.storage import BlobStore, content_hash
from db.claims import Outcome, claim_items, record_results
from db.idempotency import StoredAnswer, save_answer
from db.jobs import NewItem, create_job
from db.manifests import ManifestRow, store_entries
from db.models import IdempotencyKey, Item, ItemStatus, Job, ManifestEntry, Result, utc_now
from db.session import get_session
from db.slide_tables import Slide
from db.slides import NewSlide, add_slides
from worker.orphan_blobs import folder_at, sweep_orphans
from worker.purge import purge_all, purge_once


def purge_settings(tmp_path: Path, url: str, **values: object) -> Settings:
    """Return settings on this database and a blob folder of the test's own."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        storage_url=str(tmp_path / "blobs"),
        _env_file=None,  # type: ignore[call-arg]
        **values,  # type: ignore[arg-type]
    )


def blob(n: int) -> bytes:
    """Return distinct bytes standing in for an image."""
    return f"image {n}".encode() * 10


def submit(
    url: str, store: BlobStore, blobs: list[bytes], *, tenant: str = "lab"
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Store the blobs and create a closed job of queued items referencing them."""
    items = [NewItem(f"img{i}.png", store.put(data), len(data)) for i, data in enumerate(blobs)]
    with get_session(url) as session:
        job, item_ids = create_job(items, session=session, tenant=tenant)
    return job.id, item_ids


def finish(url: str, job_id: uuid.UUID, item_ids: list[uuid.UUID], ago: timedelta) -> None:
    """Classify every item (a real claim and result write), as if that happened `ago`."""
    with get_session(url) as session:
        claimed = claim_items(
            item_ids, session=session, worker_id="w", lease_seconds=60, max_attempts=3
        )
        outcomes = [Outcome(c, "benign", 0.9, {"benign": 0.9}, 1.0) for c in claimed]
        record_results(outcomes, session=session, worker_id="w", model_name="m", model_version="1")
    then = utc_now() - ago
    with get_session(url) as session:
        session.execute(update(Item).where(Item.job_id == job_id).values(finished_at=then))
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(created_at=then - timedelta(minutes=1), closed_at=then - timedelta(minutes=1))
        )


def age_blobs(root: Path) -> None:
    """Make every stored blob look written two hours ago (past the purge's grace)."""
    old = time.time() - 2 * 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))


def stored(store: BlobStore, data: bytes) -> bool:
    """Return whether the blob of these bytes is stored."""
    return Path(store.path_for(content_hash(data))).exists()


def count(url: str, model: type[object], job_id: uuid.UUID | None = None) -> int:
    """Return how many rows a table holds (of one job when given)."""
    statement = select(func.count()).select_from(model)  # type: ignore[arg-type]
    if job_id is not None:
        column = Job.id if model is Job else model.job_id  # type: ignore[attr-defined]
        statement = statement.where(column == job_id)
    with get_session(url) as session:
        return int(session.scalar(statement) or 0)


def add_extras(url: str, job_id: uuid.UUID) -> None:
    """Give a job a manifest row and an idempotency key, as a real submission would."""
    with get_session(url) as session:
        store_entries(job_id, [ManifestRow("img0.png", patient_id="P1")], session=session)
        answer = StoredAnswer("create", job_id, {"job_id": str(job_id)})
        save_answer(f"key-{job_id}", answer, session=session, tenant="lab")


def test_shared_blob_stays_while_another_job_holds_it(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    old_id, old_items = submit(database_url, store, [blob(1), blob(2)])
    finish(database_url, old_id, old_items, ago=timedelta(hours=25))  # past 24 h of images
    live_id, live_items = submit(database_url, store, [blob(1), blob(3)], tenant="other")
    age_blobs(tmp_path / "blobs")

    report = purge_once(settings, store)

    assert (report.image_jobs, report.blobs_deleted, report.blobs_shared) == (1, 1, 1)
    assert not stored(store, blob(2))  # only the expired job held it
    assert stored(store, blob(1)) and stored(store, blob(3))  # the queued job still needs them
    assert count(database_url, Item, old_id) == 2  # rows stay for 30 days
    assert count(database_url, Item, live_id) == 2
    # Once the other tenant's job is final and past its retention, the last copy goes.
    finish(database_url, live_id, live_items, ago=timedelta(hours=25))
    again = purge_once(settings, store)
    assert (again.image_jobs, again.blobs_deleted, again.blobs_shared) == (1, 2, 0)
    assert not stored(store, blob(1)) and not stored(store, blob(3))


def test_expired_job_goes_with_its_rows(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    old_id, old_items = submit(database_url, store, [blob(1), blob(2)])
    add_extras(database_url, old_id)
    finish(database_url, old_id, old_items, ago=timedelta(days=31))
    recent_id, recent_items = submit(database_url, store, [blob(3)])
    add_extras(database_url, recent_id)
    finish(database_url, recent_id, recent_items, ago=timedelta(hours=1))
    age_blobs(tmp_path / "blobs")

    report = purge_once(settings, store)

    assert (report.image_jobs, report.jobs_deleted, report.items_deleted) == (1, 1, 2)
    for model in (Job, Item, Result, ManifestEntry, IdempotencyKey):
        assert count(database_url, model, old_id) == 0, model
        assert count(database_url, model, recent_id) == 1, model
    assert not stored(store, blob(1)) and not stored(store, blob(2))
    assert stored(store, blob(3))


def test_running_and_open_jobs_are_untouched(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    running_id, running_items = submit(database_url, store, [blob(1), blob(2)])
    finish(database_url, running_id, running_items[:1], ago=timedelta(days=60))
    open_items = [NewItem("late.png", store.put(blob(3)), 10)]
    with get_session(database_url) as session:
        open_job, _ = create_job(open_items, session=session, tenant="lab", closed=False)
        long_ago = utc_now() - timedelta(days=60)
        session.execute(update(Job).values(created_at=long_ago))
        session.execute(update(Item).values(created_at=long_ago))
    age_blobs(tmp_path / "blobs")

    report = purge_once(settings, store)

    assert (report.image_jobs, report.blobs_deleted, report.jobs_deleted) == (0, 0, 0)
    assert all(stored(store, blob(n)) for n in (1, 2, 3))
    assert (
        count(database_url, Item, running_id) == 2 and count(database_url, Item, open_job.id) == 1
    )


def test_dry_run_deletes_nothing_and_says_what_would_go(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    gone_id, gone_items = submit(database_url, store, [blob(1), blob(2)])
    finish(database_url, gone_id, gone_items, ago=timedelta(days=31))
    images_id, images_items = submit(database_url, store, [blob(2), blob(3)])
    finish(database_url, images_id, images_items, ago=timedelta(days=2))
    submit(database_url, store, [blob(3)])  # queued: holds blob 3
    age_blobs(tmp_path / "blobs")

    dry = purge_once(settings, store, dry_run=True)

    assert dry.dry_run and not dry.progressed
    # Blob 2 is shared by the two expiring jobs: kept for the first, deleted with the second.
    assert (dry.image_jobs, dry.blobs_deleted, dry.blobs_shared) == (2, 2, 2)
    assert (dry.jobs_deleted, dry.items_deleted) == (1, 2)
    assert all(stored(store, blob(n)) for n in (1, 2, 3))
    assert count(database_url, Job) == 3 and count(database_url, Item) == 5
    with get_session(database_url) as session:
        assert session.scalar(select(func.count()).where(Job.images_purged_at.is_not(None))) == 0
    real = purge_once(settings, store)
    assert (real.image_jobs, real.blobs_deleted, real.blobs_shared) == (2, 2, 2)
    assert not stored(store, blob(1)) and not stored(store, blob(2)) and stored(store, blob(3))
    assert (real.jobs_deleted, real.items_deleted) == (1, 2)


def test_a_blob_sent_again_within_the_grace_waits(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    job_id, item_ids = submit(database_url, store, [blob(1)])
    finish(database_url, job_id, item_ids, ago=timedelta(days=2))
    age_blobs(tmp_path / "blobs")
    store.put(blob(1))  # an upload of the same bytes whose job is not committed yet

    report = purge_once(settings, store)

    assert (report.image_jobs, report.blobs_recent) == (0, 1) and stored(store, blob(1))
    age_blobs(tmp_path / "blobs")  # the upload never became a job
    assert purge_once(settings, store).blobs_deleted == 1 and not stored(store, blob(1))


def test_a_tenant_override_and_batches(database_url: str, tmp_path: Path) -> None:
    overrides = {"lab": RetentionOverride(blob_hours=1, result_days=1)}
    settings = purge_settings(
        tmp_path, database_url, tenant_retention=overrides, purge_batch_size=2
    )
    store = BlobStore(settings.resolved_storage_url)
    lab = []
    for n in range(5):
        job_id, item_ids = submit(database_url, store, [blob(10 * n + k) for k in range(3)])
        finish(database_url, job_id, item_ids, ago=timedelta(hours=30))
        lab.append(job_id)
    other_id, other_items = submit(database_url, store, [blob(99)], tenant="other")
    finish(database_url, other_id, other_items, ago=timedelta(hours=2))
    age_blobs(tmp_path / "blobs")

    report = purge_all(settings, store)

    assert (report.image_jobs, report.blobs_deleted, report.jobs_deleted) == (5, 15, 5)
    assert count(database_url, Job) == 1 and stored(store, blob(99))  # 24 h for "other"


def test_a_slide_jobs_thumbnail_goes_with_its_images(database_url: str, tmp_path: Path) -> None:
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(settings.resolved_storage_url)
    for name, ago in (("old", timedelta(days=31)), ("recent", timedelta(hours=1))):
        with get_session(database_url) as session:
            job, _ = create_job([], session=session, tenant="lab")
            (slide_id,) = add_slides(job, [NewSlide(f"/scans/{name}.svs", name)], session=session)
            thumbnail = store.put(f"thumbnail of {name}".encode())
            session.execute(
                update(Slide).where(Slide.id == slide_id).values(thumbnail_hash=thumbnail)
            )
            session.execute(
                update(Item).where(Item.id == slide_id).values(status=ItemStatus.SUCCEEDED)
            )
        finish(database_url, job.id, [], ago=ago)
    age_blobs(tmp_path / "blobs")

    report = purge_once(settings, store)

    assert report.image_jobs == 1
    assert not stored(store, b"thumbnail of old") and stored(store, b"thumbnail of recent")


def blobs_in(folder: str, how_many: int) -> list[bytes]:
    """Return the first `how_many` of blob(0), blob(1), ... stored under `folder`."""
    found = (blob(n) for n in range(100_000) if content_hash(blob(n)).startswith(folder))
    return [next(found) for _ in range(how_many)]


def test_blobs_no_row_holds_go_once_past_the_grace(database_url: str, tmp_path: Path) -> None:
    # A long interval: the folder this purge sweeps cannot turn over during the test.
    settings = purge_settings(tmp_path, database_url, purge_interval_seconds=10**9)
    store = BlobStore(settings.resolved_storage_url)
    folder = folder_at(utc_now(), settings.purge_interval_seconds)
    held, orphan, fresh, let_go = blobs_in(folder, 4)
    elsewhere = next(blob(n) for n in range(1000) if not content_hash(blob(n)).startswith(folder))
    submit(database_url, store, [held])  # a queued job holds it
    purged_id, _ = submit(database_url, store, [let_go])
    with get_session(database_url) as session:  # a job whose images were let go holds nothing
        session.execute(update(Job).where(Job.id == purged_id).values(images_purged_at=utc_now()))
    for data in (orphan, elsewhere):
        store.put(data)  # stored by a request that failed before its rows were committed
    age_blobs(tmp_path / "blobs")
    store.put(fresh)  # its request may not have committed yet

    dry = purge_once(settings, store, dry_run=True)
    assert dry.orphans_deleted == 2
    assert all(stored(store, data) for data in (held, orphan, fresh, let_go, elsewhere))
    report = purge_all(settings, store)
    assert report.orphans_deleted == 2
    assert not stored(store, orphan) and not stored(store, let_go)
    assert stored(store, held) and stored(store, fresh)
    assert stored(store, elsewhere)  # its folder's turn is another interval
    swept = sweep_orphans(settings, store, utc_now(), content_hash(elsewhere)[:2], dry_run=False)
    assert swept == 1 and not stored(store, elsewhere)


def test_each_interval_sweeps_the_next_of_the_256_folders() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    folders = [folder_at(start + timedelta(hours=h), 3600) for h in range(257)]
    assert len(set(folders[:256])) == 256 and folders[256] == folders[0]
    assert folder_at(start + timedelta(minutes=59), 3600) == folders[0]
    assert folder_at(start, 0) == folder_at(start, 1)  # purges turned off: the CLI still sweeps


def test_an_object_store_is_not_swept(database_url: str, tmp_path: Path) -> None:
    # It keeps a blob's first write time: a blob sent again would still look old.
    settings = purge_settings(tmp_path, database_url)
    store = BlobStore(f"memory://inferq-sweep-{uuid.uuid4().hex}")
    digest = store.put(blob(1))
    swept = sweep_orphans(settings, store, utc_now() + timedelta(days=1), digest[:2], dry_run=False)
    assert swept == 0 and store.get(digest) == blob(1)
