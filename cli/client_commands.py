"""Commands that talk to a running gateway through the client: status, results, summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.tables import results_table
from client.api import ApiError, InferqClient
from client.models import JobPublic, JobSummary
from core.settings import get_settings

console = Console()
errors = Console(stderr=True)

ApiOption = typer.Option(None, "--api", help="Gateway URL [default: INFERQ_API_URL].")
ApiKeyOption = typer.Option(None, "--api-key", help="API key [default: INFERQ_API_KEY].")
OutOption = typer.Option(None, "--out", help="Write to this .csv or .json file.")


def make_client(api: str | None, api_key: str | None) -> InferqClient:
    """Return a client for the gateway named by the flags, else by the settings."""
    settings = get_settings()
    key = api_key if api_key is not None else settings.api_key.get_secret_value()
    return InferqClient(api or settings.api_url, api_key=key or None)


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn the API's refusals into one line on stderr and exit status 1."""
    try:
        yield
    except ApiError as exc:
        hint = " (set INFERQ_API_KEY or pass --api-key)" if exc.status_code == 401 else ""
        errors.print(f"[red]error:[/red] {escape(str(exc))}{hint}", highlight=False)
        raise typer.Exit(1) from exc


def write_results(client: InferqClient, job_id: str, out: Path) -> int:
    """Write a job's results to a .csv (as the API renders it) or .json file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        text = client.results_csv(job_id)
        out.write_text(text)
        return max(0, text.count("\n") - 1)
    items = [item.model_dump(mode="json") for item in client.iter_results(job_id)]
    out.write_text(json.dumps(items, indent=1) + "\n")
    return len(items)


def write_summary(client: InferqClient, job_id: str, out: Path) -> None:
    """Write a job's per-patient summary to a .csv or .json file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        out.write_text(client.summary_csv(job_id))
    else:
        out.write_text(client.summary(job_id).model_dump_json(indent=1) + "\n")


def job_line(job: JobPublic) -> str:
    """Return a job's status and counts on one line."""
    counts = job.counts
    return (
        f"job {job.job_id}: {job.status} - {counts.succeeded} succeeded, {counts.failed} failed, "
        f"{counts.queued + counts.running} pending, {counts.cancelled} cancelled "
        f"of {counts.total}"
    )


def summary_table(summary: JobSummary) -> Table:
    """Return the per-patient summary as a table."""
    counts = (f"n {c}" for c in summary.classes)
    table = Table("patient", "status", "coverage", "images", "failed", *counts, "call")
    table.add_column("mean " + ", ".join(summary.classes))
    for group in summary.patients:
        table.add_row(
            group.patient_id or "(no patient ID)",
            group.status,
            f"{group.coverage:.0%}",
            str(group.n_images),
            str(group.n_failed),
            *(str(group.label_counts.get(c, 0)) for c in summary.classes),
            group.call or "",
            ", ".join(f"{group.mean_probability.get(c, 0.0):.3f}" for c in summary.classes),
        )
    return table


def status(
    job_ids: list[str] = typer.Argument(..., help="One or more job IDs."),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Show jobs' status and progress counts (many jobs in one request per 100)."""
    with api_errors(), make_client(api, api_key) as client:
        if len(job_ids) == 1:
            console.print(job_line(client.get_job(job_ids[0])))
            return
        found = client.get_jobs(job_ids)
        for job_id in job_ids:
            job = found.get(job_id)
            console.print(job_line(job) if job else f"{job_id}: not found")


def results(
    job_id: str,
    out: Path | None = OutOption,
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Print a job's results, or write them to --out (.csv or .json)."""
    with api_errors(), make_client(api, api_key) as client:
        if out is not None:
            console.print(f"wrote {write_results(client, job_id, out)} results to {out}")
            return
        console.print(results_table(client.iter_results(job_id)))


def summary(
    job_id: str,
    out: Path | None = OutOption,
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Print a job's per-patient summary, or write it to --out (.csv or .json)."""
    with api_errors(), make_client(api, api_key) as client:
        if out is not None:
            write_summary(client, job_id, out)
            console.print(f"wrote the summary to {out}")
            return
        data = client.summary(job_id)
        console.print(summary_table(data))
        console.print(data.rule.get("description", ""))


def metrics(api: str | None = ApiOption, api_key: str | None = ApiKeyOption) -> None:
    """Print the service-wide metrics as JSON."""
    with api_errors(), make_client(api, api_key) as client:
        console.print_json(data=client.metrics())
