"""A job's final-status event: recorded once, in the transaction that made the job final."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from db.claims import ClaimedItem, Outcome, claim_items, fail_items, record_results
from db.jobs import NewItem, cancel_job, create_job, get_job
from db.models import EventStatus, Item, WebhookEvent, utc_now
from db.session import get_session
from db.sweeps import fail_exhausted
from db.webhook_events import list_events, record_final_events, redeliver_event
from db.webhook_outbox import AttemptResult, claim_due, finish_attempt

HOOK = "https://hooks.example.com/in"


def new_job(url: str, n: int, callback: str | None = HOOK) -> tuple[uuid.UUID, list[uuid.UUID]]:
    items = [NewItem(f"{i}.png", uuid.uuid4().hex * 2, 10) for i in range(n)]
    with get_session(url) as session:
        job, ids = create_job(items, session=session, tenant="lab", callback_url=callback)
        return job.id, ids


def run(url: str, item_ids: list[uuid.UUID], worker: str = "w1") -> list[ClaimedItem]:
    with get_session(url) as session:
        return claim_items(
            item_ids, session=session, worker_id=worker, lease_seconds=60, max_attempts=3
        )


def events(url: str, job_id: uuid.UUID) -> list[WebhookEvent]:
    with get_session(url) as session:
        return list_events(job_id, session=session)


def finish(url: str, job_id: uuid.UUID, item_ids: list[uuid.UUID]) -> None:
    """Fail these running items and record the job's event, as a worker's persist does."""
    with get_session(url) as session:
        fail_items({item_id: "broken" for item_id in item_ids}, session=session)
        record_final_events([job_id], session=session)


def test_the_event_is_recorded_once_when_the_last_item_finishes(database_url: str) -> None:
    job_id, ids = new_job(database_url, 2)
    run(database_url, ids)
    finish(database_url, job_id, ids[:1])
    assert events(database_url, job_id) == []  # one item still running
    finish(database_url, job_id, ids[1:])
    finish(database_url, job_id, [])  # a second look at a final job records nothing more
    (event,) = events(database_url, job_id)
    assert event.status == EventStatus.PENDING and event.url == HOOK
    job = event.payload["job"]
    assert (job["id"], job["status"], job["counts"]["failed"]) == (str(job_id), "failed", 2)
    assert event.payload["id"] == str(event.id)
    assert job["links"]["results"] == f"/v1/jobs/{job_id}/results"


def test_a_job_without_callback_records_nothing(database_url: str) -> None:
    job_id, ids = new_job(database_url, 1, callback=None)
    run(database_url, ids)
    finish(database_url, job_id, ids)
    assert events(database_url, job_id) == []


def test_a_cancel_and_the_sweeper_make_jobs_final_too(database_url: str) -> None:
    cancelled, _ = new_job(database_url, 2)
    with get_session(database_url) as session:
        job = get_job(cancelled, session=session)
        assert job is not None
        cancel_job(job, session=session)
        session.flush()
        record_final_events([cancelled], session=session)
    assert events(database_url, cancelled)[0].payload["job"]["status"] == "cancelled"
    swept, ids = new_job(database_url, 1)
    run(database_url, ids)
    with get_session(database_url) as session:
        past = utc_now() - timedelta(seconds=1)
        session.execute(update(Item).where(Item.id == ids[0]).values(lease_expires_at=past))
    with get_session(database_url) as session:
        assert fail_exhausted(session=session, max_attempts=1) == 1
    assert events(database_url, swept)[0].payload["job"]["status"] == "failed"


def finish_together(url: str, job_id: uuid.UUID, item_ids: list[uuid.UUID]) -> None:
    """Fail each item in its own transaction; all are written before any looks at the job."""
    written = threading.Barrier(len(item_ids))

    def work(item_id: uuid.UUID) -> None:
        with get_session(url) as session:
            fail_items({item_id: "broken"}, session=session)
            written.wait(timeout=10)  # every item written, none committed
            record_final_events([job_id], session=session)

    threads = [threading.Thread(target=work, args=(item_id,)) for item_id in item_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_workers_finishing_the_last_items_at_once_record_one_event(postgres_url: str) -> None:
    """The job row lock makes the second look wait for the first commit, so one sees the
    job final; without it neither would."""
    for _ in range(5):
        job_id, ids = new_job(postgres_url, 2)
        run(postgres_url, ids[:1], "w1")
        run(postgres_url, ids[1:], "w2")
        finish_together(postgres_url, job_id, ids)
        assert len(events(postgres_url, job_id)) == 1


def test_two_workers_writing_results_of_one_job_at_once_do_not_deadlock(
    postgres_url: str,
) -> None:
    """Each result row's foreign key share-locks the job row; the job lock taken after it
    must not conflict with that, or each writer waits for the other until PostgreSQL
    aborts one (a deadlock, after a second)."""
    job_id, ids = new_job(postgres_url, 2)
    claimed = run(postgres_url, ids[:1], "w1") + run(postgres_url, ids[1:], "w2")
    written = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(item: ClaimedItem, worker: str) -> None:
        outcome = Outcome(item, "benign", 0.9, {"benign": 0.9, "malignant": 0.1}, 1.0)
        try:
            with get_session(postgres_url) as session:
                record_results(
                    [outcome], session=session, worker_id=worker, model_name="m", model_version="1"
                )
                written.wait(timeout=10)  # both results written, neither committed
                record_final_events([job_id], session=session)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(item, f"w{n + 1}")) for n, item in enumerate(claimed)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(events(postgres_url, job_id)) == 1


def test_due_events_are_taken_once_and_every_attempt_moves_them_on(database_url: str) -> None:
    job_id, ids = new_job(database_url, 1)
    run(database_url, ids)
    finish(database_url, job_id, ids)
    with get_session(database_url) as session:
        (due,) = claim_due(5, session=session, lease_seconds=60, retry_seconds=3600)
        assert claim_due(5, session=session, lease_seconds=60, retry_seconds=3600) == []
    with get_session(database_url) as session:
        failed = AttemptResult(500, None, 3.0)
        finish_attempt(due, failed, session=session, worker_id="w1", retry_at=utc_now())
    with get_session(database_url) as session:
        (again,) = claim_due(5, session=session, lease_seconds=60, retry_seconds=3600)
        assert again.id == due.id and again.attempts == 1
        finish_attempt(
            again, AttemptResult(204, None, 2.0), session=session, worker_id="w1", retry_at=None
        )
    (event,) = events(database_url, job_id)
    assert (event.status, event.attempts, event.last_error) == ("delivered", 2, None)
    with get_session(database_url) as session:
        assert redeliver_event(job_id, uuid.uuid4(), session=session) is None
        replayed = redeliver_event(job_id, event.id, session=session)
        assert replayed is not None and replayed.status == "pending"
        assert replayed.deliver_until is None
        count = session.scalar(select(func.count()).select_from(WebhookEvent))
        assert count == 1
