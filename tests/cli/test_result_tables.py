"""What a person reads in the terminal: whole file names, the demo's notes and metrics."""

from __future__ import annotations

import pytest
from rich.console import Console

import cli.demo
from cli.demo import CORRUPT_FILE, report_job
from cli.tables import results_table
from client.models import ResultItem
from core.settings import Settings
from tests.gateway.conftest import api_client, png_bytes

LONG_NAME = "malignant/P0012_0034_x4096_y8192.png"


def rendered(table: object, width: int) -> list[str]:
    """Return the lines a console of this width prints for the table."""
    console = Console(width=width, record=True, file=None, force_terminal=False)
    with console.capture() as capture:
        console.print(table)
    return capture.get().splitlines()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_results_table_keeps_whole_relative_names(width: int) -> None:
    items = [
        ResultItem(
            item_id="1",
            filename=LONG_NAME,
            status="succeeded",
            label="malignant",
            probability=0.91,
            patient_id="P0000",
        ),
        ResultItem(
            item_id="2",
            filename="corrupt.png",
            status="failed",
            error="cannot decode image: broken PNG file with a long explanation",
        ),
    ]
    lines = rendered(results_table(items), width)
    assert any(LONG_NAME in line for line in lines), "\n".join(lines)
    assert "corrupt.png" in "\n".join(lines)
    if width >= 80:  # room for every column: the others fold, none vanishes
        assert "0.910" in "\n".join(lines) and "P0000" in "\n".join(lines)


def test_demo_report_explains_the_broken_file_and_names_the_window(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Console(width=80, record=True)
    monkeypatch.setattr(cli.demo, "console", console)
    with api_client(settings) as client:
        files = [("files", (LONG_NAME, png_bytes(1))), ("files", (CORRUPT_FILE, b"\x89PNG"))]
        accepted = client.post("/v1/jobs", files=files).json()
        job = client.get(f"/v1/jobs/{accepted['job_id']}").json()
        report_job(client, accepted["job_id"], job)
    text = console.export_text()
    assert f"{CORRUPT_FILE} is broken on purpose" in text
    assert "a bad file fails its own item" in text
    assert any(LONG_NAME in line for line in text.splitlines()), text
    assert "results a second over the last 60 s" in text
