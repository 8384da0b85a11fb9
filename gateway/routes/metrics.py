"""Aggregate metrics: JSON from the database, and Prometheus text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from db.metrics import compute_metrics
from db.metrics_history import results_history
from gateway.deps import SessionDep, TenantDep, only_parameters
from gateway.errors import responses
from gateway.service_schemas import MetricsHistory, MetricsPublic

router = APIRouter(tags=["metrics"])

MAX_BUCKETS = 720


@router.get("/v1/metrics", response_model=MetricsPublic, responses=responses(401, 429))
def read_metrics(tenant: TenantDep, session: SessionDep) -> MetricsPublic:
    """Return the tenant's aggregates, computed in the database over all workers.

    Counts, latencies and throughput cover the calling tenant's jobs only; `/metrics`
    (Prometheus text, no key) is the service-wide view for operators.

    Latencies are milliseconds: `queue` from upload to claim by a worker, `inference` the
    item's share of its batch's model time (batch time / batch size), `total` from upload
    to result. `throughput_per_second` counts the results written over the last
    `throughput_window_seconds` (60), divided by that window.
    """
    return MetricsPublic.model_validate(compute_metrics(session=session, tenant=tenant))


@router.get(
    "/v1/metrics/history",
    response_model=MetricsHistory,
    responses=responses(400, 401, 422, 429),
    dependencies=[Depends(only_parameters("minutes", "step_seconds"))],
)
def read_metrics_history(
    tenant: TenantDep,
    session: SessionDep,
    minutes: Annotated[int, Query(ge=1, le=1440, description="How far back to look.")] = 60,
    step_seconds: Annotated[int, Query(ge=10, le=3600, description="Bucket width.")] = 60,
) -> MetricsHistory:
    """Return the tenant's throughput and latency over the last `minutes`, bucket by bucket.

    Buckets start at whole multiples of `step_seconds` since the epoch (UTC); the last one
    holds now and is still filling. Latencies are milliseconds from upload to result
    (mean and 95th percentile) and the mean share of batch model time. At most
    720 buckets (400 past that).
    """
    buckets = minutes * 60 // step_seconds
    if buckets > MAX_BUCKETS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{buckets} buckets asked for; at most {MAX_BUCKETS} (raise step_seconds)",
        )
    history = results_history(
        session=session, tenant=tenant, minutes=minutes, step_seconds=step_seconds
    )
    return MetricsHistory.model_validate(
        {"minutes": minutes, "step_seconds": step_seconds, "buckets": history}
    )


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Return Prometheus text exposition of gateway and database-wide metrics."""
    state = request.app.state
    body = await state.pools.run(state.pools.metrics, generate_latest, state.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
