"""`inferq watch` names patients as `submit` does, and --session keeps a folder in one job."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from client.api import InferqClient
from client.watch import Watcher, WatchOptions
from tests.integration.conftest import tile_bytes


def write_tiles(outbox: Path, names: list[str]) -> None:
    for name in names:
        path = outbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tile_bytes(zlib.crc32(name.encode()), size=32))  # one content a name


def steps(watcher: Watcher, n: int = 2) -> None:
    """Scan twice: once to see the files, once to find them unchanged and send them."""
    for _ in range(n):
        watcher.step()


def jobs_of(client: InferqClient, notes: list[str]) -> list[str]:
    """Return the job IDs the watcher said it sent files to, first seen first."""
    found = [note.split(" as job ", 1)[1] for note in notes if " as job " in note]
    return list(dict.fromkeys(found))


def test_a_session_keeps_each_folder_in_one_job_until_it_is_quiet(
    gateway_url: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    write_tiles(outbox, ["P01/P01_0001.png", "P01/P01_0002.png", "P02/P02_0001.png"])
    options = WatchOptions(
        folder=outbox,
        ledger=tmp_path / "ledger.sqlite3",
        settle_seconds=0,
        patients_from_names=True,
        session_quiet_seconds=1.5,
    )
    notes: list[str] = []
    with InferqClient(gateway_url) as client:
        watcher = Watcher(client, options, notes.append)
        steps(watcher)
        write_tiles(outbox, ["P01/P01_0003.png"])  # the scanner is still writing P01
        steps(watcher)
        p01, p02 = jobs_of(client, notes)
        assert client.get_job(p01).status == "open" and client.get_job(p01).counts.total == 3
        assert client.get_job(p02).counts.total == 1
        assert {item.patient_id for item in client.iter_results(p01)} == {"P01"}
        assert not watcher.idle()  # sessions still open
        time.sleep(1.6)
        watcher.step()
        assert client.get_job(p01).status == client.get_job(p02).status == "queued"
        assert sum("closed job" in note for note in notes) == 2
        watcher.ledger.close()


def test_without_sessions_the_manifest_names_patients(gateway_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    write_tiles(outbox, ["scan-7.png"])
    manifest = b"filename,label,patient_id\nscan-7.png,benign,P77\n"
    options = WatchOptions(
        folder=outbox, ledger=tmp_path / "ledger.sqlite3", settle_seconds=0, manifest=manifest
    )
    notes: list[str] = []
    with InferqClient(gateway_url) as client:
        watcher = Watcher(client, options, notes.append)
        steps(watcher)
        (job,) = jobs_of(client, notes)
        assert client.get_job(job).status == "queued"  # closed at once: a job per request
        assert [item.patient_id for item in client.iter_results(job)] == ["P77"]
        watcher.ledger.close()


def test_watch_offers_the_patient_and_session_options() -> None:
    shown = CliRunner().invoke(app, ["watch", "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--manifest", "--patients-from-names", "--session", "--quiet"):
        assert flag in shown, flag
