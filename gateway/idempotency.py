"""Idempotency-Key handling: a retried request gets the first answer and changes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, HTTPException, status
from sqlalchemy.orm import Session

from db.idempotency import StoredAnswer, find_answer, save_answer
from gateway.schemas import JobAccepted

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string; a retry with the same key adds nothing twice.",
    ),
]


def replay(key: str | None, scope: str, session: Session, tenant: str) -> JobAccepted | None:
    """Return the recorded answer of an earlier request with this key, if there was one."""
    if key is None:
        return None
    answer = find_answer(key, session=session, tenant=tenant)
    if answer is None:
        return None
    if answer.scope != scope:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Idempotency-Key {key!r} was already used for another request ({answer.scope})",
        )
    return JobAccepted.model_validate(answer.response)


def remember(
    key: str | None, scope: str, accepted: JobAccepted, session: Session, tenant: str
) -> None:
    """Record an answer under its key, in the transaction that makes the changes."""
    if key is not None:
        stored = StoredAnswer(scope, accepted.job_id, accepted.model_dump(mode="json"))
        save_answer(key, stored, session=session, tenant=tenant)
