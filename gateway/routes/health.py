"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from core.queue import check_broker
from db.session import get_session
from gateway.deps import PublisherDep, SettingsDep
from gateway.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
@router.get("/health", response_model=Health, include_in_schema=False)
def liveness() -> Health:
    """Answer 200 while the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or the broker is down."}},
)
def readiness(settings: SettingsDep, publisher: PublisherDep, response: Response) -> Health:
    """Answer 200 when the database and the broker are reachable, else 503."""
    checks: dict[str, str] = {}
    try:
        with get_session(settings.resolved_database_url) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        check_broker(publisher)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    if all(value == "ok" for value in checks.values()):
        return Health(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="unavailable", checks=checks)
