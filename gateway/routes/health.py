"""Liveness and readiness probes.

`/healthz` runs on the event loop and needs no thread; `/readyz` checks the database and
the broker on its own thread capacity (gateway.pools) and its own database connections
(db.session.POOLS), so neither waits behind requests.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from core.queue import check_broker
from core.settings import Settings
from db.session import get_session
from db.workers import count_ready
from gateway.deps import SessionOpener
from gateway.service_schemas import Health, WorkersReady

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


def ready_workers(open_session: SessionOpener, stale: float) -> WorkersReady:
    """Count the workers that are ready, serve a model and sent a heartbeat lately."""
    with open_session() as session:
        ready = count_ready(session=session, stale_seconds=stale)
    text = f"{ready} worker(s) ready" if ready else "no worker is ready: jobs wait in the queue"
    return WorkersReady(ready=ready, seen_within_seconds=stale, description=text)


def run_checks(
    open_session: SessionOpener, settings: Settings
) -> tuple[dict[str, str], WorkersReady | None]:
    """Check the database and the broker ('ok' or why not), and count ready workers."""
    checks: dict[str, str] = {}
    workers = None
    try:
        check_database(open_session)
        checks["database"] = "ok"
        workers = ready_workers(open_session, settings.worker_stale_seconds)
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        check_broker(settings)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    return checks, workers


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or the broker is down."}},
)
async def readiness(request: Request, response: Response) -> Health:
    """Answer 200 when the database and the broker are reachable, else 503.

    `workers` says how many workers are ready; the gateway stays ready without any (jobs
    are accepted and wait in the queue), but says so.
    """
    state = request.app.state
    # The probes' own few connections (db.session.POOLS): never queued behind requests.
    open_session = partial(get_session, state.settings.resolved_database_url, "probes")
    checks, workers = await state.pools.run(
        state.pools.probes, run_checks, open_session, state.settings
    )
    if all(value == "ok" for value in checks.values()):
        return Health(status="ok", checks=checks, workers=workers)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="unavailable", checks=checks, workers=workers)
