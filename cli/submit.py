"""`inferq submit`: files, folders and archives into one job, with progress bars."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from cli.client_commands import (
    ApiKeyOption,
    ApiOption,
    api_errors,
    console,
    errors,
    job_line,
    make_client,
    write_results,
    write_summary,
)
from client.api import InferqClient
from client.files import UploadPart, collect_parts, split_non_images
from client.manifest import names_manifest
from client.models import JobAccepted, JobPublic
from client.upload import FilesTooLargeError, UploadResult, upload_files
from core.priority import PriorityError, parse_priority
from core.settings import get_settings


def make_progress() -> Progress:
    """Return the progress display: one bar for upload bytes, one for classified images."""
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def read_manifest(manifest: Path | None, patients: bool, parts: list[UploadPart]) -> bytes | None:
    """Return the manifest to send: the file given, or patient IDs from the file names."""
    if manifest is not None:
        return manifest.read_bytes()
    return names_manifest(part.name for part in parts) if patients else None


def leave_out_non_images(parts: list[UploadPart], include_all: bool) -> list[UploadPart]:
    """Return the parts to send; list the files that are neither images nor archives."""
    if include_all:
        return parts
    kept, others = split_non_images(parts)
    if others:
        console.print(
            f"skipped {len(others)} file(s) that are not images or archives by content "
            "(--include-all sends them anyway):"
        )
        for part in others[:20]:
            console.print(f"  skipped {part.name}")
        if len(others) > 20:
            console.print(f"  ... and {len(others) - 20} more")
    return kept


def describe(result: UploadResult) -> None:
    """Print what the job took, refused, skipped and could not match."""
    console.print(
        f"job {result.job_id}: {result.total('n_items')} queued, "
        f"{result.total('n_rejected')} refused, {result.total('n_duplicates')} duplicates, "
        f"{result.total('n_skipped')} skipped, in {len(result.answers)} request(s)"
    )
    for answer in result.answers:
        for rejected in answer.rejected[:10]:
            console.print(f"  refused {rejected.filename}: {rejected.reason}")
    reports = [answer.manifest for answer in result.answers if answer.manifest]
    for line in (error for report in reports for error in report.errors):
        console.print(f"  manifest line {line['line']}: {line['reason']}")


def send(
    client: InferqClient,
    parts: list[UploadPart],
    manifest: bytes | None,
    job: str | None,
    limit: int,
    priority: str | None = None,
) -> UploadResult:
    """Upload with a bar for bytes sent and one for images classified so far."""
    with make_progress() as progress:
        total_mib = sum(part.size for part in parts) / 2**20
        upload = progress.add_task("upload", total=len(parts), detail=f"of {total_mib:.1f} MiB")
        infer = progress.add_task("inference", total=0, detail="")

        def on_request(chunk: list[UploadPart], answer: JobAccepted) -> None:
            progress.advance(upload, len(chunk))
            task = progress.tasks[infer]
            progress.update(infer, total=(task.total or 0) + answer.n_items)
            update_inference(progress, infer, client.get_job(answer.job_id))

        return upload_files(
            client,
            parts,
            manifest=manifest,
            max_request_bytes=limit,
            job_id=job,
            on_request=on_request,
            priority=priority,
        )


def update_inference(progress: Progress, task: TaskID, job: JobPublic) -> None:
    """Move the inference bar to the job's finished count."""
    counts = job.counts
    progress.update(
        task,
        total=counts.total,
        completed=counts.finished,
        detail=f"{counts.failed} failed" if counts.failed else job.status,
    )


def wait(client: InferqClient, job_id: str) -> JobPublic:
    """Poll the job with a progress bar until its status is final."""
    with make_progress() as progress:
        task = progress.add_task("inference", total=None, detail="")
        return client.wait_for_job(
            job_id, on_progress=lambda job: update_inference(progress, task, job)
        )


def check_priority(value: str | None) -> str | None:
    """Refuse a priority that is not one of the three levels before anything is sent."""
    if value is None:
        return None
    try:
        return parse_priority(value).value
    except PriorityError as exc:
        raise typer.BadParameter(str(exc)) from exc


def submit(
    paths: list[Path] = typer.Argument(..., help="Image files, archives or folders."),
    manifest: Path | None = typer.Option(None, help="CSV filename,label,patient_id[,slide_id]."),
    patients_from_names: bool = typer.Option(
        False,
        help="Without a manifest: patient (and slide) from image names: <patient>[_s<n>]_<n>.png",
    ),
    wait_for: bool = typer.Option(False, "--wait", help="Wait until every image is done."),
    out: Path | None = typer.Option(None, help="Wait, then write results (.csv or .json)."),
    summary_out: Path | None = typer.Option(
        None, help="Wait, then write the per-patient summary (.csv or .json)."
    ),
    job: str | None = typer.Option(None, help="Add to this open job instead of a new one."),
    include_all: bool = typer.Option(
        False, help="Also send files that are not images or archives (they fail as items)."
    ),
    max_request_bytes: int | None = typer.Option(
        None, help="Split uploads under this size [default: INFERQ_CLIENT_MAX_REQUEST_BYTES]."
    ),
    priority: str | None = typer.Option(
        None,
        help="interactive, normal or bulk [default: the tenant's, else interactive for a few "
        "images, else normal]; a tenant capped lower gets its cap.",
        callback=check_priority,
    ),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Upload files and folders as one job (several requests if needed), then the results."""
    parts = leave_out_non_images(collect_parts(paths), include_all)
    if not parts:
        errors.print("[red]error:[/red] no image or archive to send")
        raise typer.Exit(2)
    limit = max_request_bytes or get_settings().client_max_request_bytes
    with api_errors(), make_client(api, api_key) as client:
        try:
            rows = read_manifest(manifest, patients_from_names, parts)
            result = send(client, parts, rows, job, limit, priority)
        except (FilesTooLargeError, ValueError) as exc:
            errors.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        describe(result)
        if not (wait_for or out or summary_out):
            return
        console.print(job_line(wait(client, result.job_id)))
        if out is not None:
            console.print(f"wrote {write_results(client, result.job_id, out)} results to {out}")
        if summary_out is not None:
            write_summary(client, result.job_id, summary_out)
            console.print(f"wrote the per-patient summary to {summary_out}")
