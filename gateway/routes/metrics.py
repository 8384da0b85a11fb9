"""Aggregate metrics: JSON from the database, and Prometheus text."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from db.metrics import compute_metrics
from gateway.deps import SessionDep, TenantDep
from gateway.errors import responses
from gateway.service_schemas import MetricsPublic

router = APIRouter(tags=["metrics"])


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


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Return Prometheus text exposition of gateway and database-wide metrics."""
    state = request.app.state
    body = await state.pools.run(state.pools.metrics, generate_latest, state.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
