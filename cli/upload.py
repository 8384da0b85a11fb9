"""`inferq upload`: send large files (whole-slide images) by resumable chunked upload."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cli.client_commands import ApiKeyOption, ApiOption, api_errors, console, make_client
from client.api import InferqClient
from client.chunked import ChunkedUploader, UploadDone, bytes_received
from client.ledger import Ledger
from core.settings import get_settings

LEDGER_NAME = "client-ledger.sqlite3"


def upload_one(uploader: ChunkedUploader, path: Path, progress: Progress) -> UploadDone:
    """Upload or resume one file with a bar of its bytes."""
    upload = uploader.start(path)
    bar = progress.add_task(path.name[:30], total=upload.size, completed=bytes_received(upload))
    sent = uploader.send(path, upload, lambda size: progress.advance(bar, size))
    resumed = upload.chunk_count - sent
    return UploadDone(path, uploader.complete(upload), sent, resumed)


def upload_files(client: InferqClient, files: list[Path], ledger: Path | None) -> list[UploadDone]:
    """Upload or resume each file in chunks with a progress bar; return what each became."""
    records = Ledger(ledger or get_settings().data_dir / LEDGER_NAME)
    progress = Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    try:
        with progress:
            uploader = ChunkedUploader(client, records)
            return [upload_one(uploader, path, progress) for path in files]
    finally:
        records.close()


def report_uploads(done: list[UploadDone]) -> None:
    """Print each upload's ID, digest and how many chunks this run sent."""
    for result in done:
        console.print(
            f"{result.path.name}: upload {result.upload.id} complete, sha256 "
            f"{result.upload.sha256}, {result.sent} chunk(s) sent, {result.resumed} already there"
        )


LedgerOption = typer.Option(
    None, "--ledger", help="Resume state [default: INFERQ_DATA_DIR/client-ledger.sqlite3]."
)


def upload(
    files: list[Path] = typer.Argument(
        ..., help="Files to upload (whole-slide images).", exists=True, dir_okay=False
    ),
    ledger: Path | None = LedgerOption,
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Upload files in chunks; run again after an interruption to send only what is missing."""
    with api_errors(), make_client(api, api_key) as client:
        done = upload_files(client, files, ledger)
    report_uploads(done)
