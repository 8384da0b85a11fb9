"""Retention settings and the one rule that turns a final time into expiry times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.retention import Retention, expiry, retention_for
from core.settings import Settings


def test_tenant_overrides_come_from_json_and_fill_in_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INFERQ_BLOB_RETENTION_HOURS", "12")
    monkeypatch.setenv(
        "INFERQ_TENANT_RETENTION", '{"lab": {"blob_hours": 2}, "study": {"result_days": 365}}'
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert retention_for(settings, "lab") == Retention(2, 30)
    assert retention_for(settings, "study") == Retention(12, 365)
    assert retention_for(settings, "other") == Retention(12, 30)


@pytest.mark.parametrize(
    "value",
    ['{"lab": {"blob_hour": 2}}', '{"lab": {"blob_hours": -1}}', '{"lab": {"result_days": 0}}'],
)
def test_a_mistyped_or_impossible_override_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("INFERQ_TENANT_RETENTION", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_images_never_outlive_rows_and_unfinished_jobs_never_expire() -> None:
    final = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry(final, Retention(24, 30)) == (final + timedelta(hours=24), final + timedelta(30))
    assert expiry(final, Retention(24 * 90, 7)) == (final + timedelta(7), final + timedelta(7))
    assert expiry(None, Retention(24, 30)) == (None, None)
