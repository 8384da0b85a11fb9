"""Job priorities: the three levels, how a request's wish meets a tenant's cap, and the
broker queue each level travels on.

One rule, one place: the gateway chooses a job's priority with it, the database claim
orders items by its ranks, and every publisher routes wake-ups with it.
"""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """How urgent a job is; interactive work is claimed first."""

    INTERACTIVE = "interactive"
    NORMAL = "normal"
    BULK = "bulk"

    @property
    def rank(self) -> int:
        """Return the level as stored on items: 0 is the most urgent."""
        return PRIORITIES.index(self)

    @classmethod
    def from_rank(cls, rank: int) -> Priority:
        """Return the level stored as `rank`."""
        return PRIORITIES[rank]


PRIORITIES = (Priority.INTERACTIVE, Priority.NORMAL, Priority.BULK)
CHOICES = ", ".join(PRIORITIES)

#: Broker queue per level. Normal keeps the historical name, so wake-ups published before
#: priorities existed are still consumed.
QUEUES = {
    Priority.INTERACTIVE: "inference.interactive",
    Priority.NORMAL: "inference",
    Priority.BULK: "inference.bulk",
}


class PriorityError(ValueError):
    """A priority that is not one of the three levels."""


def parse_priority(value: str) -> Priority:
    """Return the level named `value`; PriorityError names the accepted ones otherwise."""
    try:
        return Priority(value.strip().lower())
    except ValueError:
        shown = repr(value[:40]) + ("..." if len(value) > 40 else "")  # never echo a flood
        raise PriorityError(f"priority {shown} is not one of {CHOICES}") from None


def capped(requested: Priority, cap: Priority | None) -> Priority:
    """Return the requested level, lowered to the tenant's cap when it asks for more."""
    if cap is not None and requested.rank < cap.rank:
        return cap
    return requested


def queue_for(priority: Priority) -> str:
    """Return the broker queue wake-ups of this level travel on."""
    return QUEUES[priority]


def consumed_queues() -> list[str]:
    """Return every inference queue, most urgent first: the order a worker asks the broker."""
    return [QUEUES[level] for level in PRIORITIES]
