"""The cross-job batch claim on SQLite and PostgreSQL: age order, fairness, no double claims."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select

from db.claims import ClaimedItem, claim_queued
from db.jobs import NewItem, create_job
from db.models import Item
from db.session import get_session


def queue_job(url: str, tenant: str, n: int) -> list[uuid.UUID]:
    items = [NewItem(f"{tenant}{i}.png", uuid.uuid4().hex * 2, 10) for i in range(n)]
    with get_session(url) as session:
        return create_job(items, session=session, tenant=tenant)[1]


def take(url: str, limit: int, worker: str = "w1") -> list[ClaimedItem]:
    with get_session(url) as session:
        return claim_queued(limit, session=session, worker_id=worker, lease_seconds=60)


def test_a_claim_takes_the_oldest_items_across_jobs(database_url: str) -> None:
    jobs = [queue_job(database_url, "lab", 1) for _ in range(5)]
    claimed = take(database_url, 3)
    assert [c.id for c in claimed] == [ids[0] for ids in jobs[:3]]
    assert all(c.attempts == 1 for c in claimed)
    assert [c.id for c in take(database_url, 10)] == [ids[0] for ids in jobs[3:]]
    assert take(database_url, 10) == []


def test_a_huge_job_cannot_starve_another_tenant(database_url: str) -> None:
    bulk = queue_job(database_url, "bulk", 200)
    single = queue_job(database_url, "single", 1)
    claimed = {c.id for c in take(database_url, 8)}
    assert single[0] in claimed  # dealt in turns between tenants, not strictly by age
    assert len(claimed & set(bulk)) == 7


def test_competing_claims_never_take_an_item_twice(database_url: str) -> None:
    for _ in range(4):
        queue_job(database_url, "lab", 25)
    taken: list[list[ClaimedItem]] = [[] for _ in range(4)]

    def work(index: int) -> None:
        while batch := take(database_url, 8, worker=f"w{index}"):
            taken[index].extend(batch)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [c.id for batch in taken for c in batch]
    assert len(ids) == len(set(ids)) == 100
    with get_session(database_url) as session:
        rows = session.scalars(select(Item)).all()
    assert {(r.status, r.attempts) for r in rows} == {("running", 1)}
    owner = {c.id: f"w{n}" for n, batch in enumerate(taken) for c in batch}
    assert all(r.worker_id == owner[r.id] for r in rows)
