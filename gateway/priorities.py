"""A submission's priority: the form field, else the tenant's default, else the job's size;
then lowered to the tenant's cap. Bad values are refused before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Form, HTTPException, status

from core.priority import CHOICES, Priority, PriorityError, capped, parse_priority
from db.tenant_priorities import TenantPriorities

PriorityField = Annotated[
    str | None,
    Form(
        description=f"One of {CHOICES}. Interactive work is claimed first, bulk last; a "
        "level is gained for every INFERQ_PRIORITY_AGEING_SECONDS an image waits. Default: "
        "the tenant's, else interactive for a closed job of at most "
        "INFERQ_INTERACTIVE_MAX_ITEMS images, else normal. A tenant capped lower gets its cap."
    ),
]


@dataclass(frozen=True)
class PriorityChoice:
    """What the request asked for and what its tenant allows; resolved once the job's size
    is known."""

    requested: Priority | None
    tenant: TenantPriorities

    def resolve(self, n_items: int, *, closed: bool, small: int) -> Priority:
        """Return the priority the job gets."""
        wish = self.requested or self.tenant.default
        if wish is None:
            wish = Priority.INTERACTIVE if closed and n_items <= small else Priority.NORMAL
        return capped(wish, self.tenant.cap)


def choose_priority(field: str | None, tenant: TenantPriorities) -> PriorityChoice:
    """Read the request's priority against the tenant's; 422 with the reason for a bad
    value."""
    requested = None
    if field is not None:
        try:
            requested = parse_priority(field)
        except PriorityError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return PriorityChoice(requested, tenant)
