"""Liveness and readiness probes.

`/healthz` runs on the event loop and needs no thread; `/readyz` checks the database and
the broker on its own thread capacity (gateway.pools), so neither waits behind requests.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from core.queue import check_broker
from gateway.deps import SessionOpener, SessionOpenerDep
from gateway.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
@router.get("/health", response_model=Health, include_in_schema=False)
async def liveness() -> Health:
    """Answer 200 while the process serves requests."""
    return Health(status="ok")


def check_database(open_session: SessionOpener) -> None:
    """Run one query; a connection dropped by a database restart gets one fresh retry."""
    for attempt in range(2):
        try:
            with open_session() as session:
                session.execute(text("SELECT 1"))
            return
        except Exception:
            if attempt:
                raise


def run_checks(open_session: SessionOpener, publisher: object) -> dict[str, str]:
    """Check the database and the broker; return 'ok' or why not, for each."""
    checks: dict[str, str] = {}
    try:
        check_database(open_session)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        check_broker(publisher)  # type: ignore[arg-type]
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    return checks


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or the broker is down."}},
)
async def readiness(request: Request, response: Response, open_session: SessionOpenerDep) -> Health:
    """Answer 200 when the database and the broker are reachable, else 503."""
    state = request.app.state
    checks = await state.pools.run(state.pools.probes, run_checks, open_session, state.publisher)
    if all(value == "ok" for value in checks.values()):
        return Health(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="unavailable", checks=checks)
