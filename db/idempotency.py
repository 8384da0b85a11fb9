"""Idempotency keys: a retried request that changed a job gets the first answer again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from db.models import IdempotencyKey, utc_now


@dataclass(frozen=True)
class StoredAnswer:
    """What a request with this key did the first time."""

    scope: str
    job_id: uuid.UUID
    response: dict[str, Any]
    fingerprint: str | None = None


def find_answer(key: str, *, session: Session, tenant: str) -> StoredAnswer | None:
    """Return the answer recorded under an idempotency key, if any."""
    row = session.get(IdempotencyKey, (tenant, key))
    return StoredAnswer(row.scope, row.job_id, row.response, row.fingerprint) if row else None


def save_answer(
    key: str,
    answer: StoredAnswer,
    *,
    session: Session,
    tenant: str,
) -> None:
    """Record a request's answer in the transaction that made its changes.

    A concurrent request with the same key makes the commit fail on the primary key, so
    only one of them changes the job.
    """
    session.add(
        IdempotencyKey(
            tenant=tenant,
            key=key,
            scope=answer.scope,
            job_id=answer.job_id,
            response=answer.response,
            fingerprint=answer.fingerprint,
            created_at=utc_now(),
        )
    )
