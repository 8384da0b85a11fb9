"""Results over time: throughput and latency in fixed buckets, for the operations chart.

PostgreSQL groups and takes percentiles in SQL; SQLite (the embedded single-machine
default) has no percentile function, so its rows of the window are bucketed here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from db.metrics import scoped
from db.models import Result, utc_now

Row = tuple[int, float, float, float]  # results, mean and p95 total ms, mean inference ms
JULIAN_EPOCH = 2440587.5  # the Julian day of 1970-01-01


def bucket_start(now: datetime, step_seconds: int, buckets: int) -> datetime:
    """Return the start of the first bucket: whole steps since the epoch, `buckets` back."""
    seconds = math.floor(now.timestamp() / step_seconds) * step_seconds
    return datetime.fromtimestamp(seconds, now.tzinfo) - timedelta(
        seconds=step_seconds * (buckets - 1)
    )


def _postgres_rows(session: Session, tenant: str, since: datetime, step: int) -> dict[int, Row]:
    epoch: ColumnElement[Any] = func.extract("epoch", Result.created_at)
    bucket = func.floor(epoch / step).label("bucket")
    statement = scoped(
        select(
            bucket,
            func.count(),
            func.avg(Result.total_ms),
            func.percentile_cont(0.95).within_group(Result.total_ms),
            func.avg(Result.inference_ms),
        ),
        Result,
        tenant,
    ).where(Result.created_at >= since)
    rows = session.execute(statement.group_by(bucket)).all()
    return {int(b): (n, float(mean), float(p95), float(inf)) for b, n, mean, p95, inf in rows}


def _portable_rows(session: Session, tenant: str, since: datetime, step: int) -> dict[int, Row]:
    epoch = (func.julianday(Result.created_at) - JULIAN_EPOCH) * 86400.0
    statement = scoped(select(epoch, Result.total_ms, Result.inference_ms), Result, tenant).where(
        Result.created_at >= since
    )
    grouped: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for seconds, total, inference in session.execute(statement):
        grouped[int(seconds // step)].append((total, inference))
    found = {}
    for bucket, values in grouped.items():
        totals = sorted(total for total, _ in values)
        rank = max(0, math.ceil(0.95 * len(totals)) - 1)  # nearest rank
        mean_inference = sum(inference for _, inference in values) / len(values)
        found[bucket] = (len(values), sum(totals) / len(totals), totals[rank], mean_inference)
    return found


def results_history(
    *, session: Session, tenant: str, minutes: int = 60, step_seconds: int = 60
) -> list[dict[str, Any]]:
    """Return the tenant's results a bucket at a time, oldest first, empty buckets included."""
    buckets = max(1, minutes * 60 // step_seconds)
    since = bucket_start(utc_now(), step_seconds, buckets)
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = (_postgres_rows if postgres else _portable_rows)(session, tenant, since, step_seconds)
    first = int(since.timestamp()) // step_seconds
    history = []
    for index in range(buckets):
        row = rows.get(first + index)
        count = row[0] if row else 0
        history.append(
            {
                "start": since + timedelta(seconds=step_seconds * index),
                "results": count,
                "throughput_per_second": round(count / step_seconds, 3),
                "total_ms_mean": round(row[1], 3) if row else None,
                "total_ms_p95": round(row[2], 3) if row else None,
                "inference_ms_mean": round(row[3], 3) if row else None,
            }
        )
    return history
