"""`inferq submit`: a 2,000-image folder in many small requests into one job."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.integration.bulk.conftest import SharedStack
from tests.integration.conftest import tile_bytes


def test_a_2000_image_folder_goes_through_the_cli_in_many_requests(
    shared_stack: SharedStack, tmp_path: Path
) -> None:
    source = tmp_path / "scanner"
    for index in range(2000):
        path = source / f"slide{index // 500}" / f"P{index // 100:03d}_{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tile_bytes(index, size=32))
    results, summary = tmp_path / "results.csv", tmp_path / "summary.csv"
    arguments = ["submit", str(source), "--api", shared_stack.url, "--max-request-bytes", "200000"]
    arguments += [
        "--patients-from-names",
        "--wait",
        "--out",
        str(results),
        "--summary-out",
        str(summary),
    ]
    outcome = CliRunner().invoke(app, arguments)
    assert outcome.exit_code == 0, outcome.output
    rows = list(csv.DictReader(results.open()))
    assert len(rows) == 2000 and {r["status"] for r in rows} == {"succeeded"}
    assert len({r["filename"] for r in rows}) == 2000
    job_id = outcome.output.split("job ", 1)[1].split(":", 1)[0]
    engine = create_engine(shared_stack.database_url)
    with engine.connect() as connection:
        requests = connection.execute(
            text("SELECT count(*) FROM idempotency_keys WHERE job_id = :job"), {"job": job_id}
        ).scalar_one()
    engine.dispose()
    assert requests >= 30  # ~6.6 MB of tiles under 200 kB a request, all into one job
    patients = [r for r in csv.DictReader(summary.open()) if r["level"] == "patient"]
    assert len(patients) == 20 and all(r["n_classified"] == "100" for r in patients)
