"""A job's webhook events: see their deliveries, replay one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.orm import Session

from db.models import EventStatus, WebhookEvent
from db.webhook_events import list_attempts, list_events, redeliver_event
from gateway.deps import JobDep, SessionDep
from gateway.errors import responses
from gateway.event_schemas import AttemptPublic, EventList, EventPublic

router = APIRouter(prefix="/v1/jobs", tags=["webhooks"])


def describe_events(events: list[WebhookEvent], session: Session) -> list[EventPublic]:
    """Describe events with their attempts, oldest first."""
    attempts = list_attempts([event.id for event in events], session=session)
    public = []
    for event in events:
        tries = [
            AttemptPublic(
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
            for attempt in attempts
            if attempt.event_id == event.id
        ]
        pending = event.status == EventStatus.PENDING
        public.append(
            EventPublic(
                id=event.id,
                kind=event.kind,
                url=event.url,
                status=event.status,  # type: ignore[arg-type]
                created_at=event.created_at,
                next_attempt_at=event.next_attempt_at if pending else None,
                delivered_at=event.delivered_at,
                last_error=event.last_error,
                payload=event.payload,
                attempts=tries,
            )
        )
    return public


@router.get("/{job_id}/events", response_model=EventList, responses=responses(401, 404, 422, 429))
def list_events_route(job: JobDep, session: SessionDep) -> EventList:
    """Return the job's webhook events, each with every delivery attempt.

    A job with a callback URL gets one `job.finished` event when it reaches a final status;
    until then (or without a callback) the list is empty.
    """
    return EventList(events=describe_events(list_events(job.id, session=session), session))


@router.post(
    "/{job_id}/events/{event_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventPublic,
    responses=responses(401, 404, 422, 429),
)
def redeliver_event_route(event_id: uuid.UUID, job: JobDep, session: SessionDep) -> EventPublic:
    """Send an event again (same ID and body, a fresh signature), whatever its status.

    A worker's webhook sender takes it within a second or so, with a new retry window.
    404 when the job has no such event.
    """
    event = redeliver_event(job.id, event_id, session=session)
    if event is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job.id} has no event {event_id}")
    return describe_events([event], session)[0]
