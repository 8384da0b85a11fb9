"""A job's derived status as SQL, so a listing filters by status in the database.

`db.jobs.derive_status` is the rule from counted items; `status_condition` states the same
rule with EXISTS over the job's items (`ix_items_job_status` answers each one), and
tests/db/test_job_filters.py checks that the two agree on jobs in every status.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select

from db.models import Item, ItemStatus, Job


def has_items(*statuses: ItemStatus) -> ColumnElement[bool]:
    """Return whether the job has an item in one of the statuses (any item when none)."""
    statement = select(Item.id).where(Item.job_id == Job.id)
    if statuses:
        statement = statement.where(Item.status.in_([status.value for status in statuses]))
    return exists(statement)


def status_condition(status: str) -> ColumnElement[bool]:
    """Return the condition a job meets when `derive_status` gives it this status."""
    active = has_items(ItemStatus.QUEUED, ItemStatus.RUNNING)
    closed = Job.closed_at.is_not(None)
    failed, succeeded = has_items(ItemStatus.FAILED), has_items(ItemStatus.SUCCEEDED)
    settled = and_(closed, not_(active), Job.cancelled_at.is_(None))
    conditions: dict[str, ColumnElement[bool]] = {
        "cancelled": or_(
            and_(Job.cancelled_at.is_not(None), not_(active)),
            and_(closed, not_(active), not_(failed), not_(succeeded), has_items()),
        ),
        "open": and_(Job.closed_at.is_(None), or_(Job.cancelled_at.is_(None), active)),
        "queued": and_(closed, active, not_(has_items(ItemStatus.RUNNING, ItemStatus.SUCCEEDED))),
        "running": and_(closed, active, has_items(ItemStatus.RUNNING, ItemStatus.SUCCEEDED)),
        "succeeded": and_(settled, not_(failed), or_(succeeded, not_(has_items()))),
        "failed": and_(settled, failed, not_(succeeded)),
        "partially_failed": and_(settled, failed, succeeded),
    }
    return conditions[status]


def any_status_condition(statuses: list[str]) -> ColumnElement[bool]:
    """Return the condition a job meets when its status is one of these."""
    return or_(*(status_condition(status) for status in statuses))
