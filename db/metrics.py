"""Aggregate metrics computed in the database, so they cover every worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.models import Item, ItemStatus, Job, Result, utc_now

PERCENTILES = (0.5, 0.95, 0.99)
LATENCIES = {"inference": Result.inference_ms, "queue": Result.queue_ms, "total": Result.total_ms}

Columns = TypeVarTuple("Columns")


def scoped(
    statement: Select[*Columns], model: type[Item] | type[Result], tenant: str | None
) -> Select[*Columns]:
    """Restrict a statement over items or results to one tenant's jobs (None: every tenant)."""
    if tenant is None:
        return statement
    return statement.join(Job, Job.id == model.job_id).where(Job.tenant == tenant)


def _percentiles_postgres(
    session: Session, column: InstrumentedAttribute[float], tenant: str | None
) -> list[Any]:
    aggregates: list[ColumnElement[Any]] = [
        func.percentile_cont(p).within_group(column) for p in PERCENTILES
    ]
    return list(session.execute(scoped(select(*aggregates), Result, tenant)).one())


def _percentiles_portable(
    session: Session, column: InstrumentedAttribute[float], count: int, tenant: str | None
) -> list[Any]:
    # Nearest-rank percentiles with ORDER BY ... OFFSET: SQLite has no percentile function.
    values = []
    for p in PERCENTILES:
        offset = max(0, min(count - 1, round(p * count + 0.5) - 1))
        statement = scoped(select(column), Result, tenant).order_by(column)
        values.append(session.scalar(statement.offset(offset).limit(1)))
    return values


def latency_percentiles(
    *, session: Session, tenant: str | None = None
) -> dict[str, dict[str, float | None]]:
    """Return p50/p95/p99 of inference, queue and total latency in milliseconds."""
    count = session.scalar(scoped(select(func.count(Result.item_id)), Result, tenant)) or 0
    postgres = session.get_bind().dialect.name == "postgresql"
    summary: dict[str, dict[str, float | None]] = {}
    for name, column in LATENCIES.items():
        if count == 0:
            values: list[Any] = [None] * len(PERCENTILES)
        elif postgres:
            values = _percentiles_postgres(session, column, tenant)
        else:
            values = _percentiles_portable(session, column, count, tenant)
        keys = [f"p{round(p * 100)}" for p in PERCENTILES]
        summary[name] = {
            k: (round(float(v), 3) if v is not None else None)
            for k, v in zip(keys, values, strict=True)
        }
    return summary


def count_items_by_status(*, session: Session, tenant: str | None = None) -> dict[str, int]:
    """Return how many items are in each status (every status, zeros included)."""
    by_status = {status.value: 0 for status in ItemStatus}
    statuses = scoped(select(Item.status, func.count()), Item, tenant).group_by(Item.status)
    for status, count in session.execute(statuses):
        by_status[status] = count
    return by_status


def compute_metrics(
    *, session: Session, tenant: str | None = None, window_seconds: int = 60
) -> dict[str, Any]:
    """Return the aggregates served by GET /v1/metrics: one tenant's, or (None) everyone's."""
    by_status = count_items_by_status(session=session, tenant=tenant)
    since = utc_now() - timedelta(seconds=window_seconds)
    recent = scoped(select(func.count(Result.item_id)), Result, tenant)
    average = scoped(select(func.avg(Result.inference_ms)), Result, tenant)
    models = scoped(
        select(Result.model_name, Result.model_version, func.count()), Result, tenant
    ).group_by(Result.model_name, Result.model_version)
    jobs = select(func.count()).select_from(Job)
    if tenant is not None:
        jobs = jobs.where(Job.tenant == tenant)
    mean = session.scalar(average)
    return {
        "jobs_total": session.scalar(jobs) or 0,
        "items_total": sum(by_status.values()),
        "items_by_status": by_status,
        "avg_inference_latency_ms": round(float(mean), 3) if mean is not None else None,
        "latency_ms": latency_percentiles(session=session, tenant=tenant),
        "throughput_per_second": round(
            (session.scalar(recent.where(Result.created_at >= since)) or 0) / window_seconds, 3
        ),
        "throughput_window_seconds": window_seconds,
        "queue_depth": by_status[ItemStatus.QUEUED],
        "items_by_model": [
            {"model_name": name, "model_version": version, "items": count}
            for name, version, count in session.execute(models)
        ],
    }
