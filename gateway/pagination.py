"""Cursors and ID lists of the paginated routes: what they accept, and 400 for anything else.

A cursor is opaque to clients: only a `next_cursor` the API gave out is valid. Each is
checked against its exact shape (ASCII digits of a bounded length, a UUID) before any
number is built, so `²` (a digit to `str.isdigit`, not to `int`), 5,000 digits or a value
past the database column's range are refused with a reason instead of failing later.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Query, status

from db.models import Job

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_IDS = 100  # 100 IDs keep the URL near 4 KiB, far below any server's line limit
MAX_POSITION = 2**31 - 1  # items.position is a 32-bit integer
UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
POSITION_CURSOR = re.compile(r"[0-9]{1,10}", re.ASCII)
JOB_CURSOR = re.compile(rf"([0-9]{{1,18}})_({UUID_TEXT})", re.ASCII)
BAD_CURSOR = "cursor must be a next_cursor value the API returned"

IdsQuery = Annotated[
    list[str] | None,
    Query(
        description=f"Job IDs to read, repeated or comma-separated (at most {MAX_IDS}); "
        "unknown IDs and other tenants' jobs are left out. 400 for anything else.",
    ),
]
CursorQuery = Annotated[
    str | None,
    Query(description="The `next_cursor` of the previous page; 400 for any other value."),
]


def bad_request(detail: str) -> HTTPException:
    """Return the 400 answered for a malformed query parameter."""
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail)


def parse_ids(values: list[str] | None) -> list[uuid.UUID] | None:
    """Return the job IDs of `ids` parameters; 400 for a malformed one or too many."""
    if values is None:
        return None
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not parts:
        raise bad_request("ids names no job")
    if len(parts) > MAX_IDS:
        raise bad_request(f"{len(parts)} ids; at most {MAX_IDS} a request")
    try:
        return [uuid.UUID(part) for part in parts]
    except ValueError:
        raise bad_request("ids must be job UUIDs") from None


def encode_job_cursor(job: Job) -> str:
    """Return the cursor of the listing page after this job."""
    micros = (job.created_at - EPOCH) // timedelta(microseconds=1)  # exact, URL-safe
    return f"{micros}_{job.id}"


def decode_job_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """Return the (created_at, id) a listing cursor stands for; 400 if it is not one."""
    if cursor is None:
        return None
    match = JOB_CURSOR.fullmatch(cursor)
    if match is None:
        raise bad_request(BAD_CURSOR)
    try:
        created_at = EPOCH + timedelta(microseconds=int(match[1]))
    except OverflowError:  # past the year 9999
        raise bad_request(BAD_CURSOR) from None
    return created_at, uuid.UUID(match[2])


def encode_position_cursor(position: int | None) -> str | None:
    """Return the cursor of the results page after this item position."""
    return None if position is None else str(position)


def decode_position_cursor(cursor: str | None) -> int:
    """Return the item position a results cursor stands for (-1 for the first page)."""
    if cursor is None:
        return -1
    if POSITION_CURSOR.fullmatch(cursor) is None or int(cursor) > MAX_POSITION:
        raise bad_request(BAD_CURSOR)
    return int(cursor)
