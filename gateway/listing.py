"""The job listing's filters: statuses and a creation-time window, 400 for anything else."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Query, status
from pydantic import AfterValidator, BeforeValidator

from core.job_status import JOB_STATUSES

StatusQuery = Annotated[
    list[str] | None,
    Query(
        description="Only jobs in these statuses, repeated or comma-separated "
        f"({', '.join(JOB_STATUSES)}); 400 for any other value.",
    ),
]
NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def iso_time_only(value: object) -> object:
    """Refuse a bare number, which pydantic would read as seconds since 1970: the schema
    says an ISO 8601 time (date-time), and a number there is more likely a mistake."""
    if isinstance(value, str) and NUMBER.fullmatch(value):
        raise ValueError("expected an ISO 8601 time such as 2026-01-31T12:00:00Z, not a number")
    return value


def in_utc(moment: datetime | None) -> datetime | None:
    """Return a time in UTC, reading a time without a zone as UTC; refuse one that has no
    UTC counterpart (year 1 at +14:00, year 9999 at -14:00), which the database could not
    be asked about."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time falls outside years 1 to 9999 once in UTC") from None


CreatedAfterQuery = Annotated[
    datetime | None,
    BeforeValidator(iso_time_only),
    AfterValidator(in_utc),
    Query(description="Only jobs created at or after this ISO 8601 time (UTC if no zone)."),
]
CreatedBeforeQuery = Annotated[
    datetime | None,
    BeforeValidator(iso_time_only),
    AfterValidator(in_utc),
    Query(description="Only jobs created before this ISO 8601 time (UTC if no zone)."),
]


def parse_statuses(values: list[str] | None) -> list[str] | None:
    """Return the statuses asked for; 400 for one that no job can have."""
    if values is None:
        return None
    wanted = sorted({part.strip() for value in values for part in value.split(",")} - {""})
    unknown = [name for name in wanted if name not in JOB_STATUSES]
    if unknown or not wanted:
        shown = repr(unknown[0]) if unknown else "nothing"
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"status {shown} is not a job status; use {', '.join(JOB_STATUSES)}",
        )
    return wanted
