"""Read a job's items with their results, a page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Item, Result


@dataclass(frozen=True)
class ResultPage:
    """One page of (item, result-or-None) rows and where the next page starts."""

    rows: list[tuple[Item, Result | None]]
    next_cursor: int | None


def list_results(
    job_id: uuid.UUID, *, session: Session, after: int = -1, limit: int = 100
) -> ResultPage:
    """Return items of a job in submission order, after the `after` position."""
    statement = (
        select(Item, Result)
        .outerjoin(Result, Result.item_id == Item.id)
        .where(Item.job_id == job_id, Item.position > after)
        .order_by(Item.position)
        .limit(limit + 1)
    )
    rows: list[tuple[Item, Result | None]] = [
        (row[0], row[1]) for row in session.execute(statement)
    ]
    if len(rows) > limit:
        rows = rows[:limit]
        return ResultPage(rows, rows[-1][0].position)
    return ResultPage(rows, None)
