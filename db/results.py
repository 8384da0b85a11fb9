"""Read a job's items with their results, a page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.orm import Session

from db.models import Item, Result, table_of
from db.served import read_models


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


def _outcome_statement() -> Select[Any]:
    items, results = table_of(Item), table_of(Result)
    columns = [
        *("label", "probability", "scores", "inference_ms", "batch_ms", "batch_size"),
        *("model_name", "model_version", "model_id", "warnings"),
    ]
    return (
        select(items.c.status, items.c.error, *(results.c[name] for name in columns))
        .outerjoin(results, results.c.item_id == items.c.id)
        .where(items.c.job_id == bindparam("job_id"))
        .limit(1)
    )


# Built once, on the tables: /predict reads this after every classification.
OUTCOME = _outcome_statement()


def read_outcome(job_id: uuid.UUID, *, session: Session) -> Row[Any]:
    """Return a one-item job's item status and error with its result's columns (`label` is
    None until it has one), as one plain row: no ORM objects are built."""
    return session.connection().execute(OUTCOME, {"job_id": job_id}).one()


def job_class_names(job_id: uuid.UUID, *, session: Session) -> list[str]:
    """Return the classes of a job's results in the order of the models' cards.

    Models count in the order the job first used them; results recorded before results
    named their model fall back to the first result's class names, sorted.
    """
    first_use = func.min(Result.created_at)
    used = session.execute(
        select(Result.model_id)
        .where(Result.job_id == job_id, Result.model_id.is_not(None))
        .group_by(Result.model_id)
        .order_by(first_use)
    )
    model_ids = [model_id for (model_id,) in used if model_id is not None]
    models = read_models(set(model_ids), session=session)
    names: list[str] = []
    for model_id in model_ids:
        for name in models[model_id].card.get("class_names", []):
            if name not in names:
                names.append(name)
    if not names:
        first = session.scalar(select(Result.scores).where(Result.job_id == job_id).limit(1))
        names = sorted(first) if first else []
    return names


def attribute_names(job_id: uuid.UUID, *, session: Session) -> list[str]:
    """Return the manifest's extra columns found on a job's items, first seen first."""
    names: dict[str, None] = {}
    rows = session.scalars(
        select(Item.attributes)
        .where(Item.job_id == job_id)
        .order_by(Item.position)
        .execution_options(yield_per=1000)
    )
    for attributes in rows:
        for name in attributes or {}:
            names.setdefault(name)
    return list(names)


def get_item(job_id: uuid.UUID, item_id: uuid.UUID, *, session: Session) -> Item | None:
    """Return an item of a job, or None when the job has no such item."""
    return session.scalars(select(Item).where(Item.id == item_id, Item.job_id == job_id)).first()
