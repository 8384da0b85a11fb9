"""Create, read and cancel jobs; derive a job's status from its items."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Uuid,
    any_,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached

from core.job_status import FINAL_STATUSES
from db.job_filters import any_status_condition
from db.models import DEFAULT_TENANT, Item, ItemStatus, Job, Result, table_of, utc_now


@dataclass(frozen=True)
class NewItem:
    """An accepted upload, already stored under its content hash."""

    filename: str
    content_hash: str
    size_bytes: int
    error: str | None = None  # set when the upload was refused: the item starts failed
    true_label: str | None = None  # the rest comes from the job's manifest, when it has one
    patient_id: str | None = None
    slide_id: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobState:
    """A job with its item counts and derived status."""

    job: Job
    counts: dict[str, int]
    status: str
    finished_at: datetime | None = None
    models: list[str] = field(default_factory=list)
    final_at: datetime | None = None  # when it became final: its last item, or its closing


def job_values(
    *,
    tenant: str,
    closed: bool,
    job_id: uuid.UUID | None,
    callback_url: str | None,
    priority: int,
) -> dict[str, Any]:
    """Return a new job's row: the one place its columns are chosen (db.loop_sql inserts it
    too)."""
    now = utc_now()
    return {
        "id": job_id or uuid.uuid4(),
        "tenant": tenant,
        "created_at": now,
        "closed_at": now if closed else None,
        "cancelled_at": None,
        "final_at": None,
        "images_purged_at": None,
        "callback_url": callback_url,
        "priority": priority,
    }


def item_rows(
    job_id: uuid.UUID, tenant: str, priority: int, items: list[NewItem], start: int
) -> list[dict[str, Any]]:
    """Return a job's new items' rows, queued (or failed, when refused at upload) and
    numbered from `start`: the one place their columns are chosen (db.loop_sql inserts them
    too)."""
    now = utc_now()  # also the publish time: the caller publishes right after commit
    return [
        {
            "id": uuid.uuid4(),
            "job_id": job_id,
            "tenant": tenant,
            "priority": priority,
            "position": start + index,
            "filename": new.filename,
            "content_hash": new.content_hash,
            "size_bytes": new.size_bytes,
            "status": ItemStatus.FAILED if new.error else ItemStatus.QUEUED,
            "error": new.error,
            "attempts": 0,
            "created_at": now,
            "published_at": None if new.error else now,
            "finished_at": now if new.error else None,
            "true_label": new.true_label,
            "patient_id": new.patient_id,
            "slide_id": new.slide_id,
            "attributes": new.attributes,
        }
        for index, new in enumerate(items)
    ]


def queued_ids(rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Return the IDs of the rows' items queued for inference (not refused at upload)."""
    return [row["id"] for row in rows if row["status"] == ItemStatus.QUEUED]


def create_job(
    items: list[NewItem],
    *,
    session: Session,
    tenant: str = DEFAULT_TENANT,
    closed: bool = True,
    job_id: uuid.UUID | None = None,
    callback_url: str | None = None,
    priority: int = 1,
) -> tuple[Job, list[uuid.UUID]]:
    """Insert a job and its queued items; the caller commits before publishing.

    `priority` is a core.priority rank (0 interactive, 1 normal, 2 bulk).
    """
    values = job_values(
        tenant=tenant, closed=closed, job_id=job_id, callback_url=callback_url, priority=priority
    )
    # One plain INSERT, then the row joins the session as if it had been loaded: the ORM's
    # unit of work costs a one-image request more CPU than the rest of its SQL.
    session.execute(insert(table_of(Job)), [values])
    job = Job(**values)
    make_transient_to_detached(job)
    session.add(job)
    item_ids = add_items(job, items, session=session, start=0)
    return job, item_ids


def add_items(
    job: Job, items: list[NewItem], *, session: Session, start: int | None = None
) -> list[uuid.UUID]:
    """Append items to a job and return the IDs of those queued for inference.

    `start` is the job's item count when the caller knows it (0 for a new job).
    """
    if start is None:
        start = session.scalar(select(func.count()).where(Item.job_id == job.id)) or 0
    rows = item_rows(job.id, job.tenant, job.priority, items, start)
    if rows:
        session.execute(insert(table_of(Item)), rows)
    return queued_ids(rows)


def get_job(
    job_id: uuid.UUID, *, session: Session, tenant: str | None = None, for_update: bool = False
) -> Job | None:
    """Return a job, or None if it does not exist or belongs to another tenant.

    `for_update` locks the row until commit, so requests adding to one job take turns.
    """
    statement = select(Job).where(Job.id == job_id)
    if tenant is not None:  # filtered in SQL, so another tenant's row is never locked
        statement = statement.where(Job.tenant == tenant)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.scalars(statement).first()


def derive_status(job: Job, counts: dict[str, int]) -> str:
    """Return open|queued|running|succeeded|partially_failed|failed|cancelled."""
    active = counts[ItemStatus.QUEUED] + counts[ItemStatus.RUNNING]
    if job.cancelled_at is not None and active == 0:
        return "cancelled"
    if job.closed_at is None:
        return "open"
    if active:
        started = counts[ItemStatus.RUNNING] + counts[ItemStatus.SUCCEEDED]
        return "running" if started else "queued"
    if counts[ItemStatus.FAILED] == 0:
        return "succeeded" if counts[ItemStatus.SUCCEEDED] or not counts["total"] else "cancelled"
    return "failed" if counts[ItemStatus.SUCCEEDED] == 0 else "partially_failed"


ITEMS, RESULTS, JOBS = table_of(Item).c, table_of(Result).c, table_of(Job).c
NEWEST_FIRST = (JOBS.created_at.desc(), JOBS.id.desc())
CountRow = tuple[uuid.UUID, str, int, datetime | None]  # job, item status, count, last finish
ModelRow = tuple[uuid.UUID, str]  # job, "name:version" of a model that served it


def in_ids(column: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """Match a list of job IDs on any backend (`job_ids`, expanded when run)."""
    return column.in_(bindparam("job_ids", expanding=True))


def any_of_ids(column: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """Match a list of job IDs sent as one array (`job_ids`): PostgreSQL's form, which
    compiles once for db.loop_sql."""
    return column == any_(bindparam("job_ids", type_=ARRAY(Uuid)))


def item_counts(match: Callable[[ColumnElement[uuid.UUID]], ColumnElement[bool]]) -> Select[Any]:
    """Count the items of the matched jobs by status, with each status's last finish."""
    return (
        select(ITEMS.job_id, ITEMS.status, func.count(), func.max(ITEMS.finished_at))
        .where(match(ITEMS.job_id))
        .group_by(ITEMS.job_id, ITEMS.status)
    )


def served_models(match: Callable[[ColumnElement[uuid.UUID]], ColumnElement[bool]]) -> Select[Any]:
    """Name the models that served the matched jobs."""
    return (
        select(RESULTS.job_id, RESULTS.model_name + ":" + RESULTS.model_version)
        .where(match(RESULTS.job_id))
        .distinct()
    )


# Built once, in Core: a poll of many jobs runs them with no statement to build and no ORM
# result handling, which cost more of its CPU than the database did.
ITEM_COUNTS = item_counts(in_ids)
SERVED_MODELS = served_models(in_ids)
# The tenant's jobs among `job_ids`, newest first, as db.loop_sql reads a listing by IDs.
NAMED_JOBS = (
    select(table_of(Job))
    .where(JOBS.tenant == bindparam("tenant"), any_of_ids(JOBS.id))
    .order_by(*NEWEST_FIRST)
)


def read_job_states(jobs: list[Job], *, session: Session) -> list[JobState]:
    """Count the items of many jobs by status, read the models that served them (only where an
    item succeeded), and derive each job's status."""
    ids = [job.id for job in jobs]
    counts: list[CountRow] = []
    if ids:
        rows = session.execute(ITEM_COUNTS, {"job_ids": ids})
        counts = [(job_id, status, count, last) for job_id, status, count, last in rows]
    # A result is written in the transaction that marks its item succeeded and deleted
    # before its item, so a job with no succeeded item has none: no query for it (a job
    # still queued, the long poll's first read, a status poll).
    served = list({row[0] for row in counts if row[1] == ItemStatus.SUCCEEDED})
    models: list[ModelRow] = []
    if served:
        rows = session.execute(SERVED_MODELS, {"job_ids": served})
        models = [(job_id, model) for job_id, model in rows]
    return job_states(jobs, counts, models)


def job_states(jobs: list[Job], counts: list[CountRow], models: list[ModelRow]) -> list[JobState]:
    """Derive each job's state from its item counts and the models that served it: one rule
    for the sessions' read (read_job_states) and the event loop's (db.loop_sql)."""
    by_job = {job.id: {status.value: 0 for status in ItemStatus} for job in jobs}
    finished: dict[uuid.UUID, list[datetime]] = {job.id: [] for job in jobs}
    names: dict[uuid.UUID, list[str]] = {job.id: [] for job in jobs}
    # Rows of jobs not listed (another tenant's, named in a listing by IDs) are passed over.
    for job_id, status, count, last in counts:
        if job_id in by_job:
            by_job[job_id][status] = count
            if last is not None:
                finished[job_id].append(last)
    for job_id, model in models:
        if job_id in names:
            names[job_id].append(model)
    states = []
    for job in jobs:
        job_counts = by_job[job.id]
        job_counts["total"] = sum(job_counts[status.value] for status in ItemStatus)
        status = derive_status(job, job_counts)
        done = status in FINAL_STATUSES
        last = max(finished[job.id]) if done and finished[job.id] else None
        final = job.final_at or max(filter(None, (last, job.closed_at)), default=None)
        states.append(
            JobState(job, job_counts, status, last, sorted(names[job.id]), final if done else None)
        )
    return states


def read_job_state(job: Job, *, session: Session) -> JobState:
    """Count a job's items by status and derive its status."""
    return read_job_states([job], session=session)[0]


def list_jobs(
    *,
    session: Session,
    tenant: str,
    ids: list[uuid.UUID] | None = None,
    limit: int = 100,
    before: tuple[datetime, uuid.UUID] | None = None,
    statuses: list[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[Job]:
    """Return the tenant's jobs with these IDs, or its latest jobs, newest first.

    `before` is the (created_at, id) of the last job of the previous page; `statuses`
    keeps jobs whose derived status is one of them; the dates bound `created_at`
    (after: inclusive, before: exclusive).
    """
    statement = select(Job).where(Job.tenant == tenant)
    if ids is not None:
        statement = statement.where(Job.id.in_(ids))
    if statuses:
        statement = statement.where(any_status_condition(statuses))
    if created_after is not None:
        statement = statement.where(Job.created_at >= created_after)
    if created_before is not None:
        statement = statement.where(Job.created_at < created_before)
    if before is not None:
        statement = statement.where(tuple_(Job.created_at, Job.id) < tuple_(*before))
    statement = statement.order_by(*NEWEST_FIRST).limit(limit)
    return list(session.scalars(statement))


def close_job(job: Job) -> None:
    """Seal a job: no more items may be added, and it may now reach a final status."""
    job.closed_at = job.closed_at or utc_now()


def existing_hashes(job_id: uuid.UUID, hashes: Iterable[str], *, session: Session) -> set[str]:
    """Return which of the content hashes some item of the job already has."""
    wanted = sorted({digest for digest in hashes if digest})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # stay far below SQLite's parameter limit
        found.update(
            session.scalars(
                select(Item.content_hash).where(
                    Item.job_id == job_id, Item.content_hash.in_(wanted[start : start + 500])
                )
            )
        )
    return found


def cancel_job(job: Job, *, session: Session) -> int:
    """Cancel every item that has not started; return how many were cancelled."""
    now = utc_now()
    job.cancelled_at = job.cancelled_at or now
    job.closed_at = job.closed_at or now
    result = session.execute(
        update(Item)
        .where(Item.job_id == job.id, Item.status == ItemStatus.QUEUED)
        .values(status=ItemStatus.CANCELLED, finished_at=now, error="cancelled")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_published(item_ids: list[uuid.UUID], *, session: Session, published: bool = True) -> None:
    """Record that items were handed to the broker now, or that publishing failed."""
    if item_ids:
        when = utc_now() if published else None
        session.execute(
            update(Item)
            .where(Item.id.in_(item_ids))
            .values(published_at=when)
            .execution_options(synchronize_session=False)
        )
