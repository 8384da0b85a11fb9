"""`inferq watch DIR`: send a scanner outbox's new files as they complete, write results."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from cli.client_commands import ApiKeyOption, ApiOption, api_errors, console, make_client
from client.watch import Watcher, WatchOptions
from core.settings import get_settings

LEDGER_NAME = ".inferq-watch.sqlite3"


def notify(message: str) -> None:
    """Print one event with the time."""
    console.print(f"{datetime.now():%H:%M:%S} {message}", highlight=False)


def watch(
    folder: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder to watch."),
    out: Path | None = typer.Option(
        None, help="Write every result to this CSV instead of <file>.inferq.json beside it."
    ),
    ledger: Path | None = typer.Option(
        None, help=f"Ledger of files taken [default: FOLDER/{LEDGER_NAME}]."
    ),
    interval: float = typer.Option(2.0, help="Seconds between scans."),
    settle: float = typer.Option(
        2.0, help="A file is complete once its size and time are unchanged this long."
    ),
    once: bool = typer.Option(False, help="Exit once everything present now is done."),
    manifest: Path | None = typer.Option(
        None, help="CSV filename,label,patient_id[,slide_id,...] sent with each new job."
    ),
    patients_from_names: bool = typer.Option(
        False, help="Without a manifest: patient ID = file name up to its last '_'."
    ),
    session: bool = typer.Option(
        False, help="One open job per folder, closed once the folder has been quiet."
    ),
    quiet: float = typer.Option(
        60.0, help="With --session: seconds without a new file before a folder's job closes."
    ),
    max_request_bytes: int | None = typer.Option(
        None, help="Split uploads under this size [default: INFERQ_CLIENT_MAX_REQUEST_BYTES]."
    ),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Send each new file of FOLDER once it is complete, at most once even across restarts."""
    options = WatchOptions(
        folder=folder,
        ledger=ledger or folder / LEDGER_NAME,
        out_csv=out,
        settle_seconds=settle,
        max_request_bytes=max_request_bytes or get_settings().client_max_request_bytes,
        manifest=manifest.read_bytes() if manifest is not None else None,
        patients_from_names=patients_from_names,
        session_quiet_seconds=quiet if session else None,
    )
    with api_errors(), make_client(api, api_key) as client:
        watcher = Watcher(client, options, notify)
        notify(f"watching {folder} (ledger {options.ledger}); Ctrl-C stops")
        try:
            watcher.run(interval, once=once)
        except KeyboardInterrupt:
            notify("stopped")
        finally:
            watcher.ledger.close()
