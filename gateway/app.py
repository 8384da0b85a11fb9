"""The FastAPI application: a thin layer that stores uploads, queues work and reads results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.commands import command_hint
from core.completion import signal_url
from core.settings import Settings, get_settings
from core.storage import BlobStore
from gateway.access import DOCS_ASSETS, AccessMiddleware, Admission
from gateway.errors import database_unreachable, validation_error
from gateway.intake.chunks import ChunkSlots
from gateway.limits import BodyLimitMiddleware
from gateway.pools import Pools
from gateway.publisher import Publisher
from gateway.routes import (
    events,
    health,
    jobs,
    metrics,
    model,
    open_jobs,
    predict,
    results,
    slides,
    summary,
    tenant,
    thumbnails,
    uploads,
    workers,
)
from gateway.telemetry import Telemetry, TelemetryMiddleware
from gateway.usage import TimedCache
from gateway.waiters import CompletionWaiters
from gateway.warm import WarmUp
from gateway.web.headers import SecurityHeadersMiddleware
from gateway.web.pages import mount_web

MAX_FIELDS = 16

DESCRIPTION = """
Asynchronous batch image classification. Submit images to `POST /v1/jobs` and get a job
ID at once; workers classify them in batches; poll `GET /v1/jobs/{id}` and read
`GET /v1/jobs/{id}/results` and the per-patient `GET /v1/jobs/{id}/summary` (a sensitive
call per normalised patient ID, with its coverage and a status: `called`, `incomplete`
or `unassigned`). Folders
arrive as archives or over several requests into one open job (`close=false`, then
`POST /v1/jobs/{id}/items` and `POST /v1/jobs/{id}/close`). Every error answers
`{"detail": "..."}` saying what went wrong.

Every route but the health probes, the docs, `/metrics` and the web page's documents (`/`,
`/web/...`: they hold no data) needs an API key
(`Authorization: Bearer <key>`, made by KEYS_CREATE, against the
gateway's database): 401 without a valid one. A tenant sees only its own
jobs; another tenant's job answers 404 like an unknown ID. Backpressure answers 429 with
`Retry-After`: past the tenant's requests a minute, with too many images queued or running,
when the service-wide queue is full, or when too many `/predict` calls already wait; and
before any key lookup, after too many unknown keys from the caller's address.

Any route: a request line and headers over 32 KiB or more than 100 headers answer 431, a
head that takes over 10 s or a body that pauses over 30 s answers 408 (the defaults), and
the connection is closed. A path with a trailing slash is not the same path (404).
""".replace("KEYS_CREATE", command_hint("keys create --tenant NAME"))


# Request threads run Python under one GIL, handed over every 1 ms to any thread that waits
# for it: with N threads runnable the event loop gets about 1/(N+1) of the interpreter, so
# /healthz and every waiting /predict slow down N-fold. Four keep the GIL busy while one
# waits on PostgreSQL. Measured under 64 /predict callers: the slowest /healthz took
# 500-740 ms with 16 threads, 250-360 ms with 6-8, 30-80 ms with 4, at the same throughput.
SYNC_ROUTE_THREADS = 4


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Size the sync routes' thread pool; on shutdown, send the wake-ups still pending and
    stop the completion listener."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = SYNC_ROUTE_THREADS
    yield
    await anyio.to_thread.run_sync(app.state.publisher.close)
    await app.state.waiters.stop()
    if app.state.loop_database is not None:
        await app.state.loop_database.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway app; no I/O happens until the first request."""
    settings = settings or get_settings()
    # The docs pages load Swagger UI and ReDoc from the package (a closed network has no
    # CDN), and never the online validator. A trailing slash is another path (404): no
    # redirect is built from the Host header.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},
        redirect_slashes=False,
        lifespan=lifespan,
        title="inferq",
        version="0.1.0",
        description=DESCRIPTION,
        # The multipart parser's own limits (400 past them): the file parts and a manifest,
        # and the few text fields any route takes.
        form_limits={"max_files": settings.max_files_per_request + 1, "max_fields": MAX_FIELDS},
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, validation_error)
    for outage in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(outage, database_unreachable)
    app.state.loop_database = None
    app.state.rules_cache = TimedCache(settings.rules_cache_seconds)  # gateway.loop_intake
    if settings.resolved_database_url.startswith("postgresql"):  # gateway.loop_intake
        import psycopg

        from db.loop_sql import LoopDatabase

        app.add_exception_handler(psycopg.OperationalError, database_unreachable)
        app.state.loop_database = LoopDatabase(settings.resolved_database_url)
    app.state.store = BlobStore(settings.resolved_storage_url)
    app.state.publisher = Publisher(settings)
    app.state.pools = Pools()
    app.state.chunk_slots = ChunkSlots(settings.max_chunks_in_flight)
    app.state.waiters = CompletionWaiters(signal_url(settings), settings.max_predict_waiters)
    # Outermost last: the page's security headers, the body limit, then telemetry (which
    # counts refusals too), then access.
    app.state.warm_up = WarmUp(app.state.publisher, app.state.store)
    app.add_middleware(
        AccessMiddleware,
        admission=Admission(settings, app.state.pools),
        warm_up=app.state.warm_up,
    )
    telemetry = Telemetry(
        settings.resolved_database_url, settings.worker_stale_seconds, app.state.publisher
    )
    app.state.registry = telemetry.registry
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    routers = (
        jobs,
        slides,
        open_jobs,
        uploads,
        events,
        results,
        thumbnails,
        summary,
        predict,
        metrics,
        model,
        workers,
        tenant,
        health,
    )
    for module in routers:
        app.include_router(module.router)
    mount_web(app)
    return app
