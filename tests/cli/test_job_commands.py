"""`inferq jobs`, `inferq cancel` and `inferq purge` against real gateways and databases."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cli.main import app
from core.settings import get_settings
from core.storage import BlobStore
from db.jobs import NewItem, create_job
from db.migrate import upgrade
from db.models import Item, ItemStatus, Job, utc_now
from db.session import get_session
from tests.integration.conftest import tile_bytes

WIDE = {"COLUMNS": "200"}


def send(url: str, seed: int) -> str:
    """Submit one tile to the gateway and return the job ID."""
    files = {"files": (f"t{seed}.png", tile_bytes(seed, size=32), "image/png")}
    answer = httpx.post(f"{url}/v1/jobs", files=files)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_cancel_then_jobs_by_status(gateway_url: str) -> None:
    runner = CliRunner()
    kept, stopped = send(gateway_url, 1), send(gateway_url, 2)

    cancelled = runner.invoke(app, ["cancel", stopped, "--api", gateway_url])

    assert cancelled.exit_code == 0, cancelled.output
    assert (
        f"job {stopped}: cancelled" in cancelled.output and "1 cancelled of 1" in cancelled.output
    )
    assert httpx.get(f"{gateway_url}/v1/jobs/{stopped}").json()["counts"]["queued"] == 0
    listed = runner.invoke(app, ["jobs", "--status", "cancelled", "--api", gateway_url], env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert stopped in listed.output and kept not in listed.output
    queued = runner.invoke(app, ["jobs", "--status", "queued", "--api", gateway_url], env=WIDE)
    assert kept in queued.output and stopped not in queued.output
    newest = runner.invoke(app, ["jobs", "--limit", "1", "--api", gateway_url], env=WIDE)
    assert stopped in newest.output and kept not in newest.output  # newest first, one row
    future = ["jobs", "--since", "2999-01-01", "--api", gateway_url]
    assert "no jobs" in runner.invoke(app, future, env=WIDE).output
    past = runner.invoke(
        app, ["jobs", "--until", "2999-01-01T00:00", "--api", gateway_url], env=WIDE
    )
    assert kept in past.output and stopped in past.output


def test_bad_status_and_unknown_job_are_clear(gateway_url: str) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["jobs", "--status", "done", "--api", gateway_url])
    assert bad.exit_code == 2 and "'done' is not a status" in bad.output
    missing = runner.invoke(
        app, ["cancel", "00000000-0000-0000-0000-000000000000", "--api", gateway_url]
    )
    assert missing.exit_code == 1 and "404" in missing.stderr


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    """Settings on a data folder of the test's own (SQLite and local blobs), migrated."""
    monkeypatch.setenv("INFERQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INFERQ_LOG_JSON", "false")
    for name in ("INFERQ_DATABASE_URL", "INFERQ_STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield BlobStore(get_settings().resolved_storage_url)
    # `inferq purge` configures logging onto the runner's stream: later tests must not log there
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()


def test_purge_dry_run_then_purge(local: BlobStore, tmp_path: Path) -> None:
    url = get_settings().resolved_database_url
    digest = local.put(b"an old image")
    with get_session(url) as session:
        job, _ = create_job([NewItem("a.png", digest, 12)], session=session)
        long_ago = utc_now() - timedelta(days=40)
        session.execute(update(Item).values(status=ItemStatus.SUCCEEDED, finished_at=long_ago))
        session.execute(update(Job).values(closed_at=long_ago))
    old = time.time() - 7200
    os.utime(local.path_for(digest), (old, old))
    runner = CliRunner()

    dry = runner.invoke(app, ["purge", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    assert "would delete the images of 1 jobs: 1 blobs" in dry.output
    assert "would delete 1 jobs with 1 items" in dry.output
    assert Path(local.path_for(digest)).exists()
    with get_session(url) as session:
        assert session.get(Job, job.id) is not None
    done = runner.invoke(app, ["purge"])
    assert "deleted the images of 1 jobs: 1 blobs" in done.output
    assert "deleted 1 jobs with 1 items" in done.output
    assert not Path(local.path_for(digest)).exists()
    with get_session(url) as session:
        assert session.get(Job, job.id) is None
