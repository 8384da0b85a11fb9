"""How long a final job keeps its images and its rows: one rule for the view and the purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.settings import Settings


@dataclass(frozen=True)
class Retention:
    """How long a tenant's final jobs keep their images and their rows."""

    blob_hours: float
    result_days: float

    @property
    def images(self) -> timedelta:
        """Return how long images outlive their job's final status (never longer than rows)."""
        return min(timedelta(hours=self.blob_hours), self.rows)

    @property
    def rows(self) -> timedelta:
        """Return how long a job's rows outlive its final status."""
        return timedelta(days=self.result_days)


def default_retention(settings: Settings) -> Retention:
    """Return the retention of tenants without an override."""
    return Retention(settings.blob_retention_hours, settings.result_retention_days)


def retention_for(settings: Settings, tenant: str) -> Retention:
    """Return a tenant's retention: its override where it has one, else the settings."""
    retention = default_retention(settings)
    override = settings.tenant_retention.get(tenant)
    if override is None:
        return retention
    return Retention(
        retention.blob_hours if override.blob_hours is None else override.blob_hours,
        retention.result_days if override.result_days is None else override.result_days,
    )


def expiry(final_at: datetime | None, retention: Retention) -> tuple[datetime | None, ...]:
    """Return when a job's images and then its rows expire; None while it is not final."""
    if final_at is None:
        return None, None
    return final_at + retention.images, final_at + retention.rows
