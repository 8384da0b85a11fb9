"""`inferq submit` against a real gateway on the embedded defaults (no worker needed)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cli.main import app
from tests.integration.conftest import tile_bytes


def scanner_folder(root: Path) -> Path:
    """Write a folder with two tiles (one in a zip) and two files that are not images."""
    folder = root / "outbox"
    (folder / "benign").mkdir(parents=True)
    (folder / "benign" / "P01_0001.png").write_bytes(tile_bytes(1, size=32))
    (folder / "scan.log").write_text("scanner started\nslide 1 done\n")
    (folder / "notes.png").write_bytes(b"a text file with an image's name")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("P02_0001.png", tile_bytes(2, size=32))
    (folder / "more.zip").write_bytes(buffer.getvalue())
    return folder


def job_total(url: str, output: str) -> int:
    """Return how many items the job the CLI printed holds."""
    job_id = output.split("job ", 1)[1].split(":", 1)[0]
    return int(httpx.get(f"{url}/v1/jobs/{job_id}").json()["counts"]["total"])


def test_submit_skips_files_that_are_not_images_by_content(
    gateway_url: str, tmp_path: Path
) -> None:
    folder = scanner_folder(tmp_path)
    sent = CliRunner().invoke(app, ["submit", str(folder), "--api", gateway_url])
    assert sent.exit_code == 0, sent.output
    assert "skipped 2 file(s) that are not images or archives" in sent.output
    assert "skipped scan.log" in sent.output and "skipped notes.png" in sent.output
    assert "skipped more.zip" not in sent.output
    assert job_total(gateway_url, sent.output) == 2  # the tile and the zip's tile

    everything = ["submit", str(folder), "--api", gateway_url, "--include-all"]
    sent_all = CliRunner().invoke(app, everything)
    assert sent_all.exit_code == 0, sent_all.output
    assert "not images or archives" not in sent_all.output
    assert "refused scan.log: not a recognised image format" in sent_all.output
    assert job_total(gateway_url, sent_all.output) == 4


def test_a_folder_without_any_image_sends_nothing(gateway_url: str, tmp_path: Path) -> None:
    (tmp_path / "scan.log").write_text("nothing here")
    sent = CliRunner().invoke(app, ["submit", str(tmp_path), "--api", gateway_url])
    assert sent.exit_code == 2 and "no image or archive to send" in sent.output
