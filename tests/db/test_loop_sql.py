"""The event loop's PostgreSQL path (db.loop_sql) writes and reads what the sessions' path
does: the same rows for the same job, the same tenant rules, the same outcome row."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from core.priority import Priority
from db.claims import Outcome, claim_items, record_results
from db.jobs import (
    JobState,
    NewItem,
    cancel_job,
    create_job,
    item_rows,
    job_values,
    list_jobs,
    read_job_states,
)
from db.loop_sql import LoopDatabase
from db.models import Item, Job
from db.results import read_outcome
from db.session import get_session
from db.tenant_priorities import TenantPriorities, set_tenant_priorities
from db.tenant_rules import TenantRules, read_tenant_rules

IMAGE = NewItem(
    "slides/a.png",
    "ab" * 32,
    1234,
    true_label="benign",
    patient_id="P1",
    attributes={"stain": "H&E", "batch": 3},
)
REFUSED = NewItem("notes.txt", "cd" * 32, 5, error="not an image")
# Who made the row, or when: everything else must match column for column.
OWN = {"id", "job_id", "created_at", "closed_at", "published_at", "finished_at"}


def run(database: LoopDatabase, work: Any) -> Any:
    """Run one coroutine of `database` in a fresh event loop, closing its pool after."""

    async def main() -> Any:
        try:
            return await work
        finally:
            await database.close()

    return asyncio.run(main())


def columns(row: Any) -> dict[str, Any]:
    table = row.__table__
    return {c.name: getattr(row, c.name) for c in table.columns if c.name not in OWN}


def rows_of(url: str, job_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with get_session(url) as session:
        job = session.get(Job, job_id)
        assert job is not None
        items = session.scalars(select(Item).where(Item.job_id == job_id).order_by(Item.position))
        return columns(job), [columns(item) for item in items]


def test_a_job_inserted_on_the_loop_has_the_rows_the_session_writes(postgres_url: str) -> None:
    with get_session(postgres_url) as session:
        written, _ = create_job([IMAGE, REFUSED], session=session, tenant="lab", priority=0)
    job = job_values(tenant="lab", closed=True, job_id=None, callback_url=None, priority=0)
    database = LoopDatabase(postgres_url)
    run(database, database.insert_job(job, item_rows(job["id"], "lab", 0, [IMAGE, REFUSED], 0)))
    on_loop, by_session = rows_of(postgres_url, job["id"]), rows_of(postgres_url, written.id)
    assert on_loop == by_session
    assert on_loop[1][0]["attributes"] == {"stain": "H&E", "batch": 3}
    assert [item["status"] for item in on_loop[1]] == ["queued", "failed"]
    # What the ORM reads back alike: no attributes stored as JSON null, not SQL NULL.
    assert json_kinds(postgres_url, job["id"]) == json_kinds(postgres_url, written.id)


def json_kinds(url: str, job_id: uuid.UUID) -> list[str | None]:
    with get_session(url) as session:
        kinds = session.execute(
            text("SELECT json_typeof(attributes) FROM items WHERE job_id = :job ORDER BY position"),
            {"job": job_id},
        )
        return [kind for (kind,) in kinds]


def test_a_failed_insert_leaves_nothing(postgres_url: str) -> None:
    job = job_values(tenant="lab", closed=True, job_id=None, callback_url=None, priority=0)
    rows = item_rows(job["id"], "lab", 0, [IMAGE, IMAGE], 0)
    rows[1]["id"] = rows[0]["id"]  # the second item breaks the primary key
    database = LoopDatabase(postgres_url)

    async def insert_then_read() -> TenantRules:
        with pytest.raises(psycopg.errors.UniqueViolation):
            await database.insert_job(job, rows)
        return await database.read_rules("lab")  # the connection came back usable

    assert run(database, insert_then_read()).priorities == TenantPriorities()
    with get_session(postgres_url) as session:
        assert session.get(Job, job["id"]) is None  # the job's row went with the items'


def test_tenant_rules_read_on_the_loop_match_the_sessions(postgres_url: str) -> None:
    capped = TenantPriorities(default=Priority.BULK, cap=Priority.NORMAL)
    with get_session(postgres_url) as session:
        set_tenant_priorities("capped", capped, session=session)
    for tenant in ("capped", "plain"):
        with get_session(postgres_url) as session:
            expected = read_tenant_rules(tenant, session=session)
        database = LoopDatabase(postgres_url)
        assert run(database, database.read_rules(tenant)) == expected
    assert expected.priorities == TenantPriorities(None, None)


def test_the_outcome_read_on_the_loop_matches_the_sessions(postgres_url: str) -> None:
    with get_session(postgres_url) as session:
        job, ids = create_job([IMAGE], session=session)
    database = LoopDatabase(postgres_url)
    queued = run(database, database.read_outcome(job.id))
    assert (queued.status, queued.label) == ("queued", None)
    with get_session(postgres_url) as session:
        (claimed,) = claim_items(
            ids, session=session, worker_id="w1", lease_seconds=60, max_attempts=3
        )
        scores = {"benign": 0.75, "malignant": 0.25}
        outcome = Outcome(claimed, "benign", 0.75, scores, 2.0, 8.0, 4, ["dark"])
        record_results(
            [outcome], session=session, worker_id="w1", model_name="m", model_version="1"
        )
    with get_session(postgres_url) as session:
        expected = read_outcome(job.id, session=session)
    database = LoopDatabase(postgres_url)
    done = run(database, database.read_outcome(job.id))
    assert tuple(done) == tuple(expected)
    assert done._fields == tuple(expected._fields)
    assert (done.label, done.scores, done.warnings) == ("benign", scores, ["dark"])


def test_an_unreachable_server_raises_an_operational_error_in_bounded_time() -> None:
    database = LoopDatabase("postgresql+psycopg://postgres@127.0.0.1:9/nothing")
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):  # what the gateway answers 503 for
        run(database, database.read_rules("lab"))
    assert time.monotonic() - started < 15


def states_of(states: list[JobState]) -> list[tuple[Any, ...]]:
    job = [(s.job.id, s.job.created_at, s.job.priority) for s in states]
    state = [(s.counts, s.status, s.finished_at, s.models, s.final_at) for s in states]
    return [(*a, *b) for a, b in zip(job, state, strict=True)]


def test_job_states_read_on_the_loop_match_the_sessions(postgres_url: str) -> None:
    with get_session(postgres_url) as session:
        queued, _ = create_job([IMAGE], session=session, tenant="lab", priority=0)
        done, done_ids = create_job([IMAGE, REFUSED], session=session, tenant="lab")
        cancelled, _ = create_job([IMAGE], session=session, tenant="lab")
        still_open, _ = create_job([], session=session, tenant="lab", closed=False)
        elsewhere, _ = create_job([IMAGE], session=session, tenant="other")
        cancel_job(cancelled, session=session)
    with get_session(postgres_url) as session:
        claimed = claim_items(
            done_ids, session=session, worker_id="w1", lease_seconds=60, max_attempts=3
        )
        outcome = Outcome(claimed[0], "benign", 0.75, {"benign": 0.75}, 2.0, 8.0, 1, [])
        record_results(
            [outcome], session=session, worker_id="w1", model_name="m", model_version="2"
        )
    named = [queued.id, done.id, cancelled.id, still_open.id, elsewhere.id, uuid.uuid4()]
    with get_session(postgres_url) as session:
        jobs = list_jobs(session=session, tenant="lab", ids=named, limit=len(named))
        expected = states_of(read_job_states(jobs, session=session))
    # A server whose sessions speak Tokyo time: the loop's times still come back in UTC.
    assert "?" not in postgres_url
    database = LoopDatabase(f"{postgres_url}?options=-c%20TimeZone%3DAsia%2FTokyo")
    on_loop = states_of(run(database, database.read_job_states("lab", named)))
    assert on_loop == expected
    # Another tenant's job and an unknown ID are left out; the rest newest first.
    assert [state[0] for state in on_loop] == [still_open.id, cancelled.id, done.id, queued.id]
    statuses = {state[0]: state[4] for state in on_loop}
    assert statuses == {
        queued.id: "queued",
        done.id: "partially_failed",
        cancelled.id: "cancelled",
        still_open.id: "open",
    }
    done_state = next(state for state in on_loop if state[0] == done.id)
    assert done_state[6] == ["m:2"]
    assert done_state[5] is not None and done_state[5].utcoffset() == timedelta(0)
