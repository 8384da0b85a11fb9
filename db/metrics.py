"""Aggregate metrics computed in the database, so they cover every worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.models import Item, ItemStatus, Job, Result, utc_now

PERCENTILES = (0.5, 0.95, 0.99)
LATENCIES = {"inference": Result.inference_ms, "queue": Result.queue_ms, "total": Result.total_ms}


def _percentiles_postgres(session: Session, column: InstrumentedAttribute[float]) -> list[Any]:
    aggregates: list[ColumnElement[Any]] = [
        func.percentile_cont(p).within_group(column) for p in PERCENTILES
    ]
    return list(session.execute(select(*aggregates)).one())


def _percentiles_portable(
    session: Session, column: InstrumentedAttribute[float], count: int
) -> list[Any]:
    # Nearest-rank percentiles with ORDER BY ... OFFSET: SQLite has no percentile function.
    values = []
    for p in PERCENTILES:
        offset = max(0, min(count - 1, round(p * count + 0.5) - 1))
        statement = select(column).order_by(column).offset(offset).limit(1)
        values.append(session.scalar(statement))
    return values


def latency_percentiles(*, session: Session) -> dict[str, dict[str, float | None]]:
    """Return p50/p95/p99 of inference, queue and total latency in milliseconds."""
    count = session.scalar(select(func.count()).select_from(Result)) or 0
    postgres = session.get_bind().dialect.name == "postgresql"
    summary: dict[str, dict[str, float | None]] = {}
    for name, column in LATENCIES.items():
        if count == 0:
            values: list[Any] = [None] * len(PERCENTILES)
        elif postgres:
            values = _percentiles_postgres(session, column)
        else:
            values = _percentiles_portable(session, column, count)
        keys = [f"p{round(p * 100)}" for p in PERCENTILES]
        summary[name] = {
            k: (round(float(v), 3) if v is not None else None)
            for k, v in zip(keys, values, strict=True)
        }
    return summary


def compute_metrics(*, session: Session, window_seconds: int = 60) -> dict[str, Any]:
    """Return the service-wide aggregates served by GET /v1/metrics."""
    by_status = {status.value: 0 for status in ItemStatus}
    for status, count in session.execute(select(Item.status, func.count()).group_by(Item.status)):
        by_status[status] = count
    since = utc_now() - timedelta(seconds=window_seconds)
    recent = session.scalar(select(func.count()).where(Result.created_at >= since)) or 0
    average = session.scalar(select(func.avg(Result.inference_ms)))
    models = session.execute(
        select(Result.model_name, Result.model_version, func.count()).group_by(
            Result.model_name, Result.model_version
        )
    ).all()
    return {
        "requests_total": session.scalar(select(func.count()).select_from(Job)) or 0,
        "items_total": sum(by_status.values()),
        "items_by_status": by_status,
        "avg_inference_latency_ms": round(float(average), 3) if average is not None else None,
        "latency_ms": latency_percentiles(session=session),
        "throughput_per_second": round(recent / window_seconds, 3),
        "queue_depth": by_status[ItemStatus.QUEUED],
        "items_by_model": [
            {"model_name": name, "model_version": version, "items": count}
            for name, version, count in models
        ],
    }
