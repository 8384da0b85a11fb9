"""Job and item life cycle on SQLite and PostgreSQL: claims, results, sweeps, metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from db.claims import ClaimedItem, Outcome, claim_items, fail_items, record_results, release_items
from db.jobs import NewItem, cancel_job, create_job, get_job, read_job_state
from db.metrics import compute_metrics
from db.models import Item, Result, utc_now
from db.results import list_results
from db.session import get_session
from db.sweeps import fail_exhausted, find_stalled


def make_job(url: str, n: int, *, refused: int = 0) -> tuple[uuid.UUID, list[uuid.UUID]]:
    items = [NewItem(f"img{i}.png", f"{i:064x}", 10) for i in range(n)]
    items += [NewItem(f"bad{i}.txt", "", 5, error="not an image") for i in range(refused)]
    with get_session(url) as session:
        job, ids = create_job(items, session=session)
    return job.id, ids


def claim(url: str, ids: list[uuid.UUID], worker: str = "w1", **kw: int) -> list[ClaimedItem]:
    options = {"lease_seconds": 60, "max_attempts": 3, **kw}
    with get_session(url) as session:
        return claim_items(ids, session=session, worker_id=worker, **options)


def succeed(url: str, claimed: list[ClaimedItem], worker: str = "w1") -> int:
    outcomes = [Outcome(c, "benign", 0.9, {"benign": 0.9, "malignant": 0.1}, 5.0) for c in claimed]
    with get_session(url) as session:
        return record_results(
            outcomes, session=session, worker_id=worker, model_name="m", model_version="1"
        )


def state(url: str, job_id: uuid.UUID) -> tuple[str, dict[str, int]]:
    with get_session(url) as session:
        job = get_job(job_id, session=session)
        assert job is not None
        current = read_job_state(job, session=session)
    return current.status, current.counts


def expire_leases(url: str) -> None:
    with get_session(url) as session:
        session.execute(update(Item).values(lease_expires_at=utc_now() - timedelta(seconds=1)))


def test_refused_uploads_start_failed_and_are_not_queued(database_url: str) -> None:
    job_id, ids = make_job(database_url, 3, refused=2)
    assert len(ids) == 3
    status, counts = state(database_url, job_id)
    assert status == "queued"
    assert counts == {
        "total": 5,
        "queued": 3,
        "running": 0,
        "succeeded": 0,
        "failed": 2,
        "cancelled": 0,
    }


def test_an_item_is_claimed_once_and_succeeds_once(database_url: str) -> None:
    job_id, ids = make_job(database_url, 4)
    first = claim(database_url, ids)
    assert {c.id for c in first} == set(ids)
    assert claim(database_url, ids, worker="w2") == []  # leased by w1
    assert state(database_url, job_id)[0] == "running"
    assert succeed(database_url, first) == 4
    assert succeed(database_url, first) == 0  # a redelivered task writes nothing twice
    with get_session(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Result)) == 4
    assert state(database_url, job_id)[0] == "succeeded"


def read_models(url: str, job_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """Return the job's served models and the statements that reading its state ran."""
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    with get_session(url) as session:
        job = get_job(job_id, session=session)
        assert job is not None
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", note)
        try:
            models = read_job_state(job, session=session).models
        finally:
            event.remove(engine, "before_cursor_execute", note)
    return models, statements


def test_the_served_models_are_read_only_once_an_item_succeeded(database_url: str) -> None:
    job_id, ids = make_job(database_url, 2)
    models, statements = read_models(database_url, job_id)
    assert models == []
    assert not any("FROM results" in statement for statement in statements)
    claimed = claim(database_url, ids[:1])
    assert read_models(database_url, job_id)[0] == []  # running: still no result
    succeed(database_url, claimed)
    models, statements = read_models(database_url, job_id)
    assert models == ["m:1"]
    assert any("FROM results" in statement for statement in statements)


@pytest.mark.parametrize("ending", ["failed", "handed back"])
def test_a_late_write_leaves_no_result_on_an_item_no_longer_running(
    database_url: str, ending: str
) -> None:
    _, ids = make_job(database_url, 2)
    late = claim(database_url, ids)
    with get_session(database_url) as session:
        if ending == "failed":
            fail_items({ids[0]: "gave up"}, session=session)
        else:
            release_items([ids[0]], session=session, worker_id="w1")
    written = succeed(database_url, late)
    with get_session(database_url) as session:
        results = set(session.scalars(select(Result.item_id)))
        statuses = dict(session.execute(select(Item.id, Item.status)).tuples().all())
    assert written == 1 and results == {ids[1]}
    assert statuses == {ids[0]: "failed" if ending == "failed" else "queued", ids[1]: "succeeded"}


def test_expired_lease_lets_another_worker_finish_without_duplicates(database_url: str) -> None:
    _, ids = make_job(database_url, 2)
    lost = claim(database_url, ids, worker="w1")
    expire_leases(database_url)
    taken = claim(database_url, ids, worker="w2")
    assert [c.attempts for c in taken] == [2, 2]
    assert succeed(database_url, taken, worker="w2") == 2
    assert succeed(database_url, lost, worker="w1") == 0  # the lost worker comes back late
    with get_session(database_url) as session:
        workers = session.scalars(select(Result.worker_id)).all()
    assert workers == ["w2", "w2"]


def test_a_retry_reclaims_its_own_items_without_spending_attempts(database_url: str) -> None:
    _, ids = make_job(database_url, 1)
    claim(database_url, ids)
    again = claim(database_url, ids)
    assert [c.attempts for c in again] == [1]


def test_failed_items_keep_their_reason(database_url: str) -> None:
    job_id, ids = make_job(database_url, 2)
    claimed = claim(database_url, ids)
    with get_session(database_url) as session:
        fail_items({claimed[0].id: "invalid image: truncated"}, session=session)
    succeed(database_url, claimed[1:])
    assert state(database_url, job_id)[0] == "partially_failed"
    with get_session(database_url) as session:
        rows = list_results(job_id, session=session).rows
    errors = {item.id: item.error for item, _ in rows}
    assert errors[claimed[0].id] == "invalid image: truncated"


def test_released_items_go_back_to_the_queue_without_losing_an_attempt(database_url: str) -> None:
    job_id, ids = make_job(database_url, 2)
    claim(database_url, ids)
    with get_session(database_url) as session:
        assert release_items(ids, session=session, worker_id="someone-else") == 0
        assert release_items(ids, session=session, worker_id="w1") == 2
    assert state(database_url, job_id)[1]["queued"] == 2
    assert [c.attempts for c in claim(database_url, ids, worker="w2")] == [1, 1]


def test_sweeper_republishes_stalled_and_fails_exhausted(database_url: str) -> None:
    job_id, ids = make_job(database_url, 3)
    with get_session(database_url) as session:
        assert find_stalled(session=session, stale_queued_seconds=60) == []  # just published
        assert set(find_stalled(session=session, stale_queued_seconds=0)) == set(ids)
    claim(database_url, ids[:1], max_attempts=1)
    expire_leases(database_url)
    assert claim(database_url, ids[:1], worker="w2", max_attempts=1) == []
    with get_session(database_url) as session:
        assert fail_exhausted(session=session, max_attempts=1) == 1
    status, counts = state(database_url, job_id)
    assert counts["failed"] == 1 and status == "queued"
    with get_session(database_url) as session:
        rows = list_results(job_id, session=session).rows
    assert "gave up after 1 attempts" in (rows[0][0].error or "")


def test_cancel_stops_queued_items_only(database_url: str) -> None:
    job_id, ids = make_job(database_url, 3)
    done = claim(database_url, ids[:1])
    with get_session(database_url) as session:
        job = get_job(job_id, session=session)
        assert job is not None
        assert cancel_job(job, session=session) == 2
    assert claim(database_url, ids[1:]) == []
    assert state(database_url, job_id)[0] == "running"  # one item still in flight
    succeed(database_url, done)
    status, counts = state(database_url, job_id)
    assert status == "cancelled" and counts["succeeded"] == 1 and counts["cancelled"] == 2


def test_pages_follow_submission_order(database_url: str) -> None:
    job_id, _ = make_job(database_url, 7)
    names, after = [], -1
    with get_session(database_url) as session:
        while after is not None:
            page = list_results(job_id, session=session, after=after, limit=3)
            names += [item.filename for item, _ in page.rows]
            after = page.next_cursor  # type: ignore[assignment]
    assert names == [f"img{i}.png" for i in range(7)]


def test_metrics_percentiles_match_nearest_rank(database_url: str) -> None:
    _, ids = make_job(database_url, 10)
    claimed = claim(database_url, ids)
    outcomes = [
        Outcome(c, "benign", 0.9, {"benign": 0.9}, float(i + 1)) for i, c in enumerate(claimed)
    ]
    with get_session(database_url) as session:
        record_results(outcomes, session=session, worker_id="w", model_name="m", model_version="7")
    with get_session(database_url) as session:
        metrics = compute_metrics(session=session)
    inference = metrics["latency_ms"]["inference"]
    assert inference["p50"] == pytest.approx(5.5, abs=0.6)
    assert inference["p99"] == pytest.approx(10.0, abs=0.1)
    assert metrics["avg_inference_latency_ms"] == pytest.approx(5.5)
    assert metrics["items_by_status"]["succeeded"] == 10
    assert metrics["queue_depth"] == 0
    assert metrics["throughput_per_second"] == pytest.approx(10 / 60, abs=1e-3)
    assert metrics["throughput_window_seconds"] == 60
    assert metrics["items_by_model"] == [{"model_name": "m", "model_version": "7", "items": 10}]
