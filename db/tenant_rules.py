"""What a new job needs to know of its tenant, read in one round trip: the priorities
(db.tenant_priorities) and whether callbacks can be signed, with the default URL
(db.tenant_webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, bindparam, select
from sqlalchemy.orm import Session

from core.priority import Priority
from db.models import TenantPriority, TenantWebhook, table_of
from db.tenant_priorities import TenantPriorities


@dataclass(frozen=True)
class TenantRules:
    """A tenant's priorities, whether it has a webhook secret, and its default callback."""

    priorities: TenantPriorities
    signs_webhooks: bool = False
    default_callback: str | None = None


def _rules_statement() -> Select[Any]:
    priorities, webhooks = table_of(TenantPriority), table_of(TenantWebhook)
    asked = select(bindparam("tenant", type_=String).label("tenant")).subquery()
    return (
        select(
            priorities.c.default_priority,
            priorities.c.max_priority,
            webhooks.c.tenant,
            webhooks.c.default_url,
        )
        .select_from(asked)
        .outerjoin(priorities, priorities.c.tenant == asked.c.tenant)
        .outerjoin(webhooks, webhooks.c.tenant == asked.c.tenant)
    )


# Built once, on the tables rather than the ORM classes: building this join on every new job
# cost more CPU than running it (about 0.25 of 0.47 ms a call).
RULES = _rules_statement()


def rules_from_row(row: Any) -> TenantRules:
    """Build a tenant's rules from the row `RULES` returns."""
    default, cap, webhook_tenant, default_url = row
    priorities = TenantPriorities(
        None if default is None else Priority.from_rank(default),
        None if cap is None else Priority.from_rank(cap),
    )
    return TenantRules(priorities, webhook_tenant is not None, default_url)


def read_tenant_rules(tenant: str, *, session: Session) -> TenantRules:
    """Return the rules a tenant's new job follows (the defaults when it has no rows)."""
    return rules_from_row(session.connection().execute(RULES, {"tenant": tenant}).one())
