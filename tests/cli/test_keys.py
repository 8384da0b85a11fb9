"""`inferq keys`: a key is printed once, listed by prefix only, and revoked by prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.keys import database_name
from cli.main import app
from core.priority import Priority
from core.settings import get_settings
from db.migrate import upgrade
from db.models import TenantWebhook
from db.session import get_session
from db.tenant_priorities import TenantPriorities, read_tenant_priorities
from db.tenant_rules import read_tenant_rules


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
    revoked = runner.invoke(app, ["keys", "revoke", key[:12]])
    assert revoked.exit_code == 0 and "within 5 s (INFERQ_KEY_CACHE_SECONDS)" in revoked.stderr
    again = runner.invoke(app, ["keys", "revoke", key[:12]])
    assert again.exit_code == 1 and "no live key" in again.stderr


def test_bad_tenant_names_and_a_missing_schema_are_clear_errors(runner: CliRunner) -> None:
    missing = runner.invoke(app, ["keys", "create", "--tenant", "lab"])
    assert missing.exit_code == 1 and "`.venv/bin/inferq db upgrade`" in missing.stderr
    upgrade(get_settings().resolved_database_url)
    bad = runner.invoke(app, ["keys", "create", "--tenant", "Lab One"])
    assert bad.exit_code == 2 and "lower-case" in bad.stderr


def test_create_names_the_database_without_its_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(get_settings().resolved_database_url)
    created = runner.invoke(app, ["keys", "create", "--tenant", "lab"])
    assert created.exit_code == 0, created.output
    assert f"in {get_settings().resolved_database_url}:" in created.stderr
    assert "gateway accepts it only if it uses this database" in created.stderr
    monkeypatch.setenv("INFERQ_DATABASE_URL", "postgresql+psycopg://lab:s3cret@127.0.0.1:1/x")
    get_settings.cache_clear()
    refused = runner.invoke(app, ["keys", "create", "--tenant", "lab"])
    assert refused.exit_code == 1 and "s3cret" not in refused.output
    assert database_name() == "postgresql+psycopg://lab:***@127.0.0.1:1/x"


def test_a_webhook_secret_is_printed_once_and_a_default_url_needs_it(runner: CliRunner) -> None:
    url = get_settings().resolved_database_url
    upgrade(url)
    early = runner.invoke(app, ["keys", "webhook-url", "--tenant", "lab", "https://1.1.1.1/in"])
    assert early.exit_code == 1 and "keys webhook-secret --tenant lab" in early.stderr
    first = runner.invoke(app, ["keys", "webhook-secret", "--tenant", "lab"]).stdout.strip()
    second = runner.invoke(app, ["keys", "webhook-secret", "--tenant", "lab"]).stdout.strip()
    assert first.startswith("whsec_") and second.startswith("whsec_") and first != second
    private = runner.invoke(app, ["keys", "webhook-url", "--tenant", "lab", "https://10.0.0.1/"])
    assert private.exit_code == 2 and "non-public" in private.stderr
    ok = runner.invoke(app, ["keys", "webhook-url", "--tenant", "lab", "https://1.1.1.1/in"])
    assert ok.exit_code == 0, ok.output
    assert "within 5 s (INFERQ_RULES_CACHE_SECONDS)" in ok.stderr
    with get_session(url) as session:
        stored = session.get(TenantWebhook, "lab")
        assert stored is not None
        assert (stored.secret, stored.default_url) == (second, "https://1.1.1.1/in")
        rules = read_tenant_rules("lab", session=session)  # what the gateway reads
        assert (rules.signs_webhooks, rules.default_callback) == (True, "https://1.1.1.1/in")


def test_a_tenants_priority_default_and_cap_are_set_kept_and_cleared(runner: CliRunner) -> None:
    url = get_settings().resolved_database_url
    upgrade(url)
    shown = runner.invoke(app, ["keys", "priority", "--tenant", "lab"])
    assert shown.exit_code == 0 and "default (by size" in shown.stdout
    set_both = runner.invoke(
        app, ["keys", "priority", "--tenant", "lab", "--default", "bulk", "--max", "normal"]
    )
    assert set_both.exit_code == 0, set_both.output
    assert "one-image jobs within 5 s (INFERQ_RULES_CACHE_SECONDS)" in set_both.stderr
    assert "INFERQ_RULES_CACHE_SECONDS" not in shown.stderr  # nothing changed
    cleared = runner.invoke(app, ["keys", "priority", "--tenant", "lab", "--default", "none"])
    assert "max normal" in cleared.stdout  # the cap is kept when only the default changes
    with get_session(url) as session:
        stored = read_tenant_priorities("lab", session=session)
    assert stored == TenantPriorities(None, Priority.NORMAL)
    bad = runner.invoke(app, ["keys", "priority", "--tenant", "lab", "--max", "urgent"])
    assert bad.exit_code == 2 and "urgent" in bad.stderr
