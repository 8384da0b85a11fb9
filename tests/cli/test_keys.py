"""`inferq keys`: a key is printed once, listed by prefix only, and revoked by prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import get_settings
from db.migrate import upgrade


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("INFERQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("INFERQ_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_create_list_revoke(runner: CliRunner) -> None:
    upgrade(get_settings().resolved_database_url)
    created = runner.invoke(app, ["keys", "create", "--tenant", "lab"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("iq_") and len(key) == 46
    listing = runner.invoke(app, ["keys", "list"]).stdout
    assert key[:12] in listing and key not in listing and "lab" in listing
    assert runner.invoke(app, ["keys", "revoke", key[:12]]).exit_code == 0
    again = runner.invoke(app, ["keys", "revoke", key[:12]])
    assert again.exit_code == 1 and "no live key" in again.stderr


def test_bad_tenant_names_and_a_missing_schema_are_clear_errors(runner: CliRunner) -> None:
    missing = runner.invoke(app, ["keys", "create", "--tenant", "lab"])
    assert missing.exit_code == 1 and "inferq db upgrade" in missing.stderr
    upgrade(get_settings().resolved_database_url)
    bad = runner.invoke(app, ["keys", "create", "--tenant", "Lab One"])
    assert bad.exit_code == 2 and "lower-case" in bad.stderr
