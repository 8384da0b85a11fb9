"""Idempotency-Key handling: a retried request gets the first answer and changes nothing.

A key is stored with a fingerprint of the request that first used it: SHA-256 over each
part's field name, file name and a SHA-256 of its bytes, in order, and the form fields.
A later request with the key but another fingerprint is a 422, never the first answer.
Left out on purpose, because a true retry may differ there: the multipart boundary, each
part's Content-Type (the gateway sniffs content, never trusts it) and other headers. The
route (which operation, which job) is the key's scope, checked first. Hashing happens only
when a key is sent and reads the already spooled parts once more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, HTTPException, UploadFile, status
from sqlalchemy.orm import Session

from db.idempotency import StoredAnswer, find_answer, save_answer
from gateway.schemas import JobAccepted

CHUNK = 1 << 20

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string; a retry with the same key adds nothing twice. "
        "Reusing a key with another request (other files, names or fields) is a 422.",
    ),
]

Part = tuple[str, UploadFile | str | None]


@dataclass(frozen=True)
class RequestKey:
    """An Idempotency-Key with the fingerprint of the request that carries it."""

    key: str
    fingerprint: str


def digest_upload(upload: UploadFile) -> str:
    """Return the SHA-256 of an uploaded part's bytes, leaving it rewound."""
    digest = hashlib.sha256()
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        digest.update(chunk)
    upload.file.seek(0)
    return digest.hexdigest()


def fingerprint_parts(parts: Iterable[Part]) -> str:
    """Return the SHA-256 of a request's parts: name, file name and content of each."""
    digest = hashlib.sha256()
    for name, value in parts:
        if value is None or isinstance(value, str):
            fields = ["field", name, value or ""]
        else:  # an upload (Starlette's class, of which FastAPI's is a subclass)
            fields = ["file", name, value.filename or "", digest_upload(value)]
        for field in fields:  # length-prefixed, so no two part lists hash alike
            encoded = field.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return digest.hexdigest()


def request_key(key: str | None, parts: Iterable[Part]) -> RequestKey | None:
    """Return the request's key with its fingerprint, or None when it sent no key."""
    return None if key is None else RequestKey(key, fingerprint_parts(parts))


def replay(key: RequestKey | None, scope: str, session: Session, tenant: str) -> JobAccepted | None:
    """Return the recorded answer of an earlier request with this key, if there was one.

    422 when the key was used for another operation or with another request body.
    """
    if key is None:
        return None
    answer = find_answer(key.key, session=session, tenant=tenant)
    if answer is None:
        return None
    if answer.scope != scope:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Idempotency-Key {key.key!r} was already used for another request ({answer.scope})",
        )
    if answer.fingerprint is not None and answer.fingerprint != key.fingerprint:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Idempotency-Key {key.key!r} was already used with a different request (other "
            "files, file names or fields); send a new key for a new request",
        )
    return JobAccepted.model_validate(answer.response)


def remember(
    key: RequestKey | None, scope: str, accepted: JobAccepted, session: Session, tenant: str
) -> None:
    """Record an answer under its key, in the transaction that makes the changes."""
    if key is not None:
        answer = accepted.model_dump(mode="json")
        stored = StoredAnswer(scope, accepted.job_id, answer, key.fingerprint)
        save_answer(key.key, stored, session=session, tenant=tenant)
