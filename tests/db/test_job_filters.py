"""The listing's SQL status filter agrees with `derive_status` on jobs in every status."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from core.job_status import JOB_STATUSES
from db.jobs import NewItem, create_job, list_jobs, read_job_states
from db.models import Item, Job, utc_now
from db.session import get_session

# Each job: its item statuses, whether it is closed and whether it was cancelled.
SHAPES: dict[str, tuple[list[str], bool, bool]] = {
    "open": (["queued", "succeeded"], False, False),
    "open-empty": ([], False, False),
    "queued": (["queued", "queued"], True, False),
    "running": (["running", "queued"], True, False),
    "running-after-one": (["succeeded", "queued"], True, False),
    "succeeded": (["succeeded", "succeeded"], True, False),
    "succeeded-empty": ([], True, False),
    "failed": (["failed"], True, False),
    "partially_failed": (["failed", "succeeded"], True, False),
    "cancelled": (["cancelled", "succeeded"], True, True),
    "cancelled-open": (["cancelled"], False, True),
    "cancelled-all-items": (["cancelled", "cancelled"], True, False),
    "cancelling": (["running", "cancelled"], True, True),
}


def make_jobs(url: str, tenant: str) -> dict[uuid.UUID, str]:
    """Create one job of each shape; return its ID with the shape's name."""
    made = {}
    with get_session(url) as session:
        for name, (statuses, closed, cancelled) in SHAPES.items():
            items = [NewItem(f"{name}{i}.png", f"{i:064x}", 1) for i in range(len(statuses))]
            job, _ = create_job(items, session=session, tenant=tenant, closed=closed)
            for position, status in enumerate(statuses):
                session.execute(
                    update(Item)
                    .where(Item.job_id == job.id, Item.position == position)
                    .values(status=status)
                )
            if cancelled:
                job.cancelled_at = utc_now()
            made[job.id] = name
    return made


def test_each_status_lists_exactly_the_jobs_derived_so(database_url: str) -> None:
    made = make_jobs(database_url, "lab")
    make_jobs(database_url, "other")
    with get_session(database_url) as session:
        every = list_jobs(session=session, tenant="lab")
        derived = {state.job.id: state.status for state in read_job_states(every, session=session)}
        assert set(derived) == set(made)
        assert set(derived.values()) == set(JOB_STATUSES)  # every status is tried
        for status in JOB_STATUSES:
            listed = list_jobs(session=session, tenant="lab", statuses=[status])
            expected = {job_id for job_id, found in derived.items() if found == status}
            assert {job.id for job in listed} == expected, status
        both = list_jobs(session=session, tenant="lab", statuses=["failed", "open"])
        assert {derived[job.id] for job in both} == {"failed", "open"}


def test_dates_bound_the_creation_time(database_url: str) -> None:
    made = make_jobs(database_url, "lab")
    first, second = list(made)[:2]
    now = utc_now()
    with get_session(database_url) as session:
        session.execute(
            update(Job).where(Job.id == first).values(created_at=now - timedelta(days=3))
        )
    with get_session(database_url) as session:
        old = list_jobs(session=session, tenant="lab", created_before=now - timedelta(days=1))
        assert [job.id for job in old] == [first]
        recent = list_jobs(session=session, tenant="lab", created_after=now - timedelta(days=1))
        assert first not in {job.id for job in recent} and second in {job.id for job in recent}
