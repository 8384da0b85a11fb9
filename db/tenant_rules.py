"""What a new job needs to know of its tenant, read in one round trip: the priorities
(db.tenant_priorities) and whether callbacks can be signed, with the default URL
(db.tenant_webhooks)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, literal, select
from sqlalchemy.orm import Session

from core.priority import Priority
from db.models import TenantPriority, TenantWebhook
from db.tenant_priorities import TenantPriorities


@dataclass(frozen=True)
class TenantRules:
    """A tenant's priorities, whether it has a webhook secret, and its default callback."""

    priorities: TenantPriorities
    signs_webhooks: bool = False
    default_callback: str | None = None


def read_tenant_rules(tenant: str, *, session: Session) -> TenantRules:
    """Return the rules a tenant's new job follows (the defaults when it has no rows)."""
    asked = select(literal(tenant, String).label("tenant")).subquery()
    row = session.execute(
        select(
            TenantPriority.default_priority,
            TenantPriority.max_priority,
            TenantWebhook.tenant,
            TenantWebhook.default_url,
        )
        .select_from(asked)
        .outerjoin(TenantPriority, TenantPriority.tenant == asked.c.tenant)
        .outerjoin(TenantWebhook, TenantWebhook.tenant == asked.c.tenant)
    ).one()
    default, cap, webhook_tenant, default_url = row
    priorities = TenantPriorities(
        None if default is None else Priority.from_rank(default),
        None if cap is None else Priority.from_rank(cap),
    )
    return TenantRules(priorities, webhook_tenant is not None, default_url)
