"""Response schemas of a job's webhook events and their delivery attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class AttemptPublic(BaseModel):
    """One try at delivering an event."""

    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null without one.")
    error: str | None = Field(description="Why the attempt failed; null when it was delivered.")
    duration_ms: float


class EventPublic(BaseModel):
    """A webhook event of a job and where its delivery stands."""

    id: uuid.UUID = Field(description="Stable across attempts and redeliveries: deduplicate on it.")
    kind: str = Field(description="`job.finished`: the job reached a final status.")
    url: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` until a receiver answers 2xx (`delivered`) or the retry "
        "window closes (`failed`)."
    )
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending event is tried next.")
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any] = Field(description="The JSON body the receiver gets.")
    attempts: list[AttemptPublic]


class EventList(BaseModel):
    """A job's webhook events, oldest first."""

    events: list[EventPublic]
