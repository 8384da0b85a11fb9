"""The batch claim by priority on SQLite and PostgreSQL: urgent first, ageing bounds the
wait of bulk work, tenants still take turns within a rank, and the query stays cheap."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert, text, update

from core.priority import Priority
from db.claim_order import _CANDIDATES_PG, interactive_waiting
from db.claims import claim_queued
from db.jobs import NewItem, create_job
from db.models import Item, utc_now
from db.session import get_session

AGEING = 10.0


def queue_job(
    url: str, tenant: str, n: int, priority: Priority, waited: float = 0.0
) -> list[uuid.UUID]:
    """Queue a job of n items at a priority, submitted `waited` seconds ago."""
    items = [NewItem(f"{tenant}{i}.png", uuid.uuid4().hex * 2, 10) for i in range(n)]
    with get_session(url) as session:
        ids = create_job(items, session=session, tenant=tenant, priority=priority.rank)[1]
        if waited:
            since = utc_now() - timedelta(seconds=waited)
            session.execute(update(Item).where(Item.id.in_(ids)).values(created_at=since))
    return ids


def take(url: str, limit: int) -> set[uuid.UUID]:
    """Claim up to `limit` items; return their IDs (a claim returns a set, in no order)."""
    with get_session(url) as session:
        claimed = claim_queued(
            limit, session=session, worker_id="w1", lease_seconds=60, ageing_seconds=AGEING
        )
    return {item.id for item in claimed}


def test_interactive_then_normal_then_bulk_whatever_the_age(database_url: str) -> None:
    bulk = queue_job(database_url, "lab", 50, Priority.BULK, waited=5)
    normal = queue_job(database_url, "lab", 2, Priority.NORMAL, waited=1)
    urgent = queue_job(database_url, "lab", 1, Priority.INTERACTIVE)
    assert take(database_url, 1) == set(urgent)
    assert take(database_url, 2) == set(normal)
    assert take(database_url, 1) == set(bulk[:1])


def test_urgent_work_of_one_tenant_overtakes_bulk_work_of_another(database_url: str) -> None:
    bulk = queue_job(database_url, "archive", 200, Priority.BULK, waited=5)
    urgent = queue_job(database_url, "clinic", 3, Priority.INTERACTIVE)
    assert take(database_url, 3) == set(urgent)
    assert take(database_url, 2) <= set(bulk)


def test_tenants_take_turns_within_a_rank(database_url: str) -> None:
    big = queue_job(database_url, "big", 100, Priority.NORMAL, waited=2)
    small = queue_job(database_url, "small", 2, Priority.NORMAL)
    claimed = take(database_url, 4)
    assert set(small) <= claimed
    assert len(claimed & set(big)) == 2


def test_bulk_waits_less_than_two_ageing_periods_behind_fresh_interactive(
    database_url: str,
) -> None:
    # Just under 2 periods, a bulk item still ranks behind a new interactive one ...
    young = queue_job(database_url, "lab", 1, Priority.BULK, waited=2 * AGEING - 2)
    urgent = queue_job(database_url, "lab", 1, Priority.INTERACTIVE)
    assert take(database_url, 1) == set(urgent)
    # ... past 2 periods it ranks with them and, older, goes first.
    old = queue_job(database_url, "lab", 1, Priority.BULK, waited=2 * AGEING + 1)
    fresh = queue_job(database_url, "lab", 1, Priority.INTERACTIVE)
    assert take(database_url, 1) == set(old)
    assert take(database_url, 1) == set(fresh)
    assert take(database_url, 1) == set(young)


def test_past_three_periods_bulk_goes_before_any_other_tenants_fresh_work(
    database_url: str,
) -> None:
    old = queue_job(database_url, "archive", 1, Priority.BULK, waited=3 * AGEING + 1)
    fresh = queue_job(database_url, "clinic", 5, Priority.INTERACTIVE)
    assert take(database_url, 1) == set(old)
    assert take(database_url, 5) == set(fresh)


def test_the_claim_query_uses_the_index_with_many_queued_rows(postgres_url: str) -> None:
    now = utc_now()
    rows = [
        {
            "id": uuid.uuid4(),
            "job_id": job_id,
            "tenant": f"t{n % 20}",
            "priority": n % 3,
            "position": n,
            "filename": f"{n}.png",
            "content_hash": "0" * 64,
            "size_bytes": 1,
            "status": "queued" if n % 4 else "succeeded",
            "attempts": 0,
            "created_at": now - timedelta(seconds=n % 5000),
        }
        for job_id in [create_empty_job(postgres_url)]
        for n in range(60_000)
    ]
    with get_session(postgres_url) as session:
        session.execute(insert(Item), rows)
    with get_session(postgres_url) as session:
        session.execute(text("ANALYZE items"))
        plan_rows = session.execute(
            text("EXPLAIN (ANALYZE, FORMAT TEXT) " + str(_CANDIDATES_PG.compile())),
            {"limit": 64, "now": now, "ageing": 300.0, "lowest": 2},
        ).all()
    plan = "\n".join(row[0] for row in plan_rows)
    assert "Seq Scan on items" not in plan, plan
    assert "ix_items_queued_tenant" in plan, plan
    execution_ms = float(plan.rsplit("Execution Time: ", 1)[1].split(" ")[0])
    assert execution_ms < 500, plan  # about 20 ms on an idle machine


def create_empty_job(url: str) -> uuid.UUID:
    with get_session(url) as session:
        return create_job([], session=session, tenant="t0")[0].id


def test_slide_blocks_see_queued_interactive_work_and_only_that(database_url: str) -> None:
    with get_session(database_url) as session:
        assert not interactive_waiting(session=session)
    queue_job(database_url, "lab", 3, Priority.BULK)
    queue_job(database_url, "lab", 2, Priority.NORMAL)
    with get_session(database_url) as session:
        assert not interactive_waiting(session=session)  # bulk and normal items never stop them
    urgent = queue_job(database_url, "clinic", 1, Priority.INTERACTIVE)
    with get_session(database_url) as session:
        assert interactive_waiting(session=session)
    assert urgent[0] in take(database_url, 1)
    with get_session(database_url) as session:
        assert not interactive_waiting(session=session)  # claimed: no longer waiting
