"""Aggregate metrics: JSON from the database, and Prometheus text."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from db.metrics import compute_metrics
from gateway.deps import SessionDep
from gateway.schemas import MetricsPublic

router = APIRouter(tags=["metrics"])


@router.get("/v1/metrics", response_model=MetricsPublic)
def read_metrics(session: SessionDep) -> MetricsPublic:
    """Return service-wide aggregates computed in the database over all workers.

    Latencies are milliseconds: `queue` from upload to claim by a worker, `inference` the
    model call of the item's batch, `total` from upload to result.
    """
    return MetricsPublic.model_validate(compute_metrics(session=session))


@router.get("/metrics", response_class=Response, include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    """Return Prometheus text exposition of gateway and database-wide metrics."""
    body = generate_latest(request.app.state.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
