"""Record a job's final-status webhook event in the transaction that made it final.

A job's status is derived from its items, so it becomes final in whichever transaction
changes its last unfinished item (a worker's results, the sweeper giving up, a cancel) or
seals it (close, a submission whose every file was refused). Each of those calls
`record_final_events` before committing. It locks the jobs' rows first: two workers
finishing a job's last items at once take turns, and the second one to get the lock reads
the first one's committed items, so one of them sees the job final. The unique
(job_id, kind) with ON CONFLICT DO NOTHING keeps a repeated call from recording twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.job_status import FINAL_STATUSES
from db.jobs import JobState, read_job_states
from db.models import EventStatus, Job, WebhookAttempt, WebhookEvent, table_of, utc_now

JOB_FINISHED = "job.finished"


def event_payload(event_id: uuid.UUID, state: JobState) -> dict[str, Any]:
    """Return the body an event carries: what happened and where to fetch the results."""
    base = f"/v1/jobs/{state.job.id}"
    finished = state.finished_at.isoformat() if state.finished_at else None
    return {
        "id": str(event_id),
        "type": JOB_FINISHED,
        "created_at": utc_now().isoformat(),
        "job": {
            "id": str(state.job.id),
            "status": state.status,
            "counts": state.counts,
            "finished_at": finished,
            "links": {"self": base, "results": f"{base}/results", "events": f"{base}/events"},
        },
    }


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(WebhookEvent).on_conflict_do_nothing(index_elements=["job_id", "kind"])
    session.execute(statement, rows)


def _locking_statement() -> Select[Any]:
    jobs = table_of(Job)
    return (
        select(jobs.c.id)
        .where(jobs.c.id.in_(bindparam("ids", expanding=True)), jobs.c.callback_url.is_not(None))
        .order_by(jobs.c.id)  # one lock order for every writer: no deadlocks between them
        # FOR NO KEY UPDATE: writers take turns, yet it does not wait on the key-share lock
        # that each writer's result rows (their foreign key) already hold on the job.
        .with_for_update(key_share=True)
    )


# Built once, on the table: most batches' jobs have no callback, and for them this read is
# all the call costs (the ORM's select of the jobs cost more CPU than running it).
LOCK_JOBS_WITH_CALLBACKS = _locking_statement()


def record_final_events(job_ids: Iterable[uuid.UUID], *, session: Session) -> int:
    """Record the event of each of these jobs with a callback that is now final.

    Returns how many jobs were final (recorded now or before). Jobs without a callback
    cost one indexed read and take no lock.
    """
    ids = sorted(set(job_ids))
    if not ids:
        return 0
    locked = session.connection().execute(LOCK_JOBS_WITH_CALLBACKS, {"ids": ids}).scalars().all()
    if not locked:
        return 0
    jobs = list(
        session.scalars(
            select(Job)
            .where(Job.id.in_(locked))
            .order_by(Job.id)
            .execution_options(populate_existing=True)
        )
    )
    final = [state for state in read_job_states(jobs, session=session) if is_final(state)]
    now = utc_now()
    rows = []
    for state in final:
        event_id = uuid.uuid4()
        rows.append(
            {
                "id": event_id,
                "job_id": state.job.id,
                "tenant": state.job.tenant,
                "kind": JOB_FINISHED,
                "url": state.job.callback_url,
                "payload": event_payload(event_id, state),
                "status": EventStatus.PENDING,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
    if rows:
        _insert_ignoring_duplicates(session, rows)
    return len(rows)


def is_final(state: JobState) -> bool:
    """Whether a job's derived status is final."""
    return state.status in FINAL_STATUSES


def list_events(job_id: uuid.UUID, *, session: Session) -> list[WebhookEvent]:
    """Return a job's events, oldest first."""
    statement = (
        select(WebhookEvent).where(WebhookEvent.job_id == job_id).order_by(WebhookEvent.created_at)
    )
    return list(session.scalars(statement))


def list_attempts(event_ids: list[uuid.UUID], *, session: Session) -> list[WebhookAttempt]:
    """Return the delivery attempts of these events, oldest first."""
    if not event_ids:
        return []
    statement = (
        select(WebhookAttempt)
        .where(WebhookAttempt.event_id.in_(event_ids))
        .order_by(WebhookAttempt.id)
    )
    return list(session.scalars(statement))


def redeliver_event(
    job_id: uuid.UUID, event_id: uuid.UUID, *, session: Session
) -> WebhookEvent | None:
    """Queue an event of this job for delivery again now; None if the job has no such event."""
    now = utc_now()
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.job_id == job_id)
        .values(
            status=EventStatus.PENDING,
            next_attempt_at=now,
            deliver_until=None,  # a new retry window, from the next send
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    statement = select(WebhookEvent).where(
        WebhookEvent.id == event_id, WebhookEvent.job_id == job_id
    )
    return session.scalars(statement.execution_options(populate_existing=True)).first()
