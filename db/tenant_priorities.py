"""Each tenant's default priority and the operator's cap on it (core.priority levels)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.priority import Priority
from db.api_keys import TENANT_PATTERN, TenantNameError
from db.models import TenantPriority, utc_now


@dataclass(frozen=True)
class TenantPriorities:
    """What a tenant's jobs get when they ask for no priority, and the most they may get."""

    default: Priority | None = None
    cap: Priority | None = None


def _level(rank: int | None) -> Priority | None:
    return None if rank is None else Priority.from_rank(rank)


def _rank(level: Priority | None) -> int | None:
    return None if level is None else level.rank


def set_tenant_priorities(tenant: str, priorities: TenantPriorities, *, session: Session) -> None:
    """Store a tenant's default priority and cap (None clears either)."""
    if not TENANT_PATTERN.match(tenant):
        raise TenantNameError(
            f"tenant {tenant!r} must be 1-64 lower-case letters, digits, '.', '-' or '_'"
        )
    row = session.get(TenantPriority, tenant, with_for_update=True)
    if row is None:
        row = TenantPriority(tenant=tenant)
        session.add(row)
    row.default_priority = _rank(priorities.default)
    row.max_priority = _rank(priorities.cap)
    row.updated_at = utc_now()
    session.flush()


def read_tenant_priorities(tenant: str, *, session: Session) -> TenantPriorities:
    """Return a tenant's default priority and cap (neither set when it has no row)."""
    row = session.scalars(select(TenantPriority).where(TenantPriority.tenant == tenant)).first()
    if row is None:
        return TenantPriorities()
    return TenantPriorities(_level(row.default_priority), _level(row.max_priority))
