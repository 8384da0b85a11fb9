"""`inferq jobs` and `inferq cancel`: list and stop jobs through a running gateway."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice

import typer
from rich.table import Table

from cli.client_commands import ApiKeyOption, ApiOption, api_errors, console, job_line, make_client
from client.models import JobPublic
from core.job_status import JOB_STATUSES


def when(moment: datetime | None) -> str:
    """Return a time to the minute, in UTC, or an empty cell."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def jobs_table(jobs: Iterable[JobPublic]) -> Table:
    """Return jobs as a table, one row each."""
    table = Table()
    table.add_column("job", no_wrap=True, min_width=36)  # whole IDs: they are copied
    for name in ("status", "images", "succeeded", "failed", "pending"):
        table.add_column(name)
    table.add_column("created (UTC)")
    table.add_column("expires (UTC)")
    for job in jobs:
        counts = job.counts
        table.add_row(
            job.job_id,
            job.status,
            str(counts.total),
            str(counts.succeeded),
            str(counts.failed),
            str(counts.queued + counts.running),
            when(job.created_at),
            when(job.expires_at),
        )
    return table


def check_statuses(statuses: list[str]) -> set[str]:
    """Return the statuses asked for, refusing one that no job can have."""
    unknown = sorted(set(statuses) - set(JOB_STATUSES))
    if unknown:
        raise typer.BadParameter(
            f"{unknown[0]!r} is not a status; use one of {', '.join(JOB_STATUSES)}",
            param_hint="--status",
        )
    return set(statuses)


def as_utc(moment: datetime | None) -> datetime | None:
    """Return a time typed on the command line, read as UTC when it has no zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def jobs(
    status: list[str] = typer.Option(
        [], "--status", help="Only jobs with this status (repeat for several)."
    ),
    since: datetime | None = typer.Option(
        None, "--since", help="Only jobs created at or after this time (UTC)."
    ),
    until: datetime | None = typer.Option(
        None, "--until", help="Only jobs created before this time (UTC)."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Most jobs to show."),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """List the tenant's jobs, newest first: status, counts and when each expires."""
    wanted = check_statuses(status)
    with api_errors(), make_client(api, api_key) as client:
        listing = client.iter_jobs(
            min(limit, 100),
            statuses=sorted(wanted),
            created_after=as_utc(since),
            created_before=as_utc(until),
        )
        found = list(islice(listing, limit))
    if not found:
        console.print("no jobs" + (f" with status {', '.join(sorted(wanted))}" if wanted else ""))
        return
    console.print(jobs_table(found))


def cancel(
    job_ids: list[str] = typer.Argument(..., help="One or more job IDs."),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Cancel jobs: images not started are never classified; finished ones keep results."""
    with api_errors(), make_client(api, api_key) as client:
        for job_id in job_ids:
            console.print(job_line(client.cancel_job(job_id)))
