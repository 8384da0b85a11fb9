"""Admission before the body is read: who the caller is (API key), and whether it may send
more now (rate, unfinished jobs, queue depth). Refusals cost the gateway no upload parsing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anyio
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings
from db.api_keys import find_tenant
from db.models import DEFAULT_TENANT
from db.quotas import count_active_jobs, count_queued, count_request
from db.session import get_session

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 30  # what a 429 for unfinished jobs or a full queue asks clients to wait
DATABASE_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of running the route."""

    status_code: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        """Return the JSON error response."""
        return JSONResponse({"detail": self.detail}, self.status_code, headers=self.headers)


# Everything else needs a key, so a route added later is closed until it is listed here.
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/health",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)


def route_path(scope: Scope) -> str:
    """Return the request path without the app's mount prefix (uvicorn's --root-path)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def is_protected(path: str) -> bool:
    """Return whether a path needs an API key: all but health, docs and Prometheus."""
    return path.rstrip("/") not in OPEN_PATHS


def creates_job(method: str, path: str) -> bool:
    """Return whether a request creates a job."""
    return method == "POST" and path.rstrip("/") in {"/v1/jobs", "/predict"}


def adds_items(method: str, path: str) -> bool:
    """Return whether a request queues images (a new job, or more files for an open one)."""
    return creates_job(method, path) or (method == "POST" and path.endswith("/items"))


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def unauthorized(detail: str) -> Refusal:
    """Return a 401 that names the scheme to use."""
    return Refusal(401, detail, {"WWW-Authenticate": "Bearer"})


def too_many(detail: str, retry_after: int) -> Refusal:
    """Return a 429 with the seconds to wait."""
    return Refusal(429, detail, {"Retry-After": str(retry_after)})


class Admission:
    """The checks, in order; each returns a refusal or None."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def authenticate(self, authorization: str | None, session: Session) -> str | Refusal:
        """Return the caller's tenant, or a 401."""
        if not self.settings.auth_enabled:
            return DEFAULT_TENANT
        token = bearer_token(authorization)
        if token is None:
            return unauthorized("missing API key: send it as 'Authorization: Bearer <key>'")
        tenant = find_tenant(token, session=session)
        return tenant if tenant is not None else unauthorized("invalid or revoked API key")

    def limit_rate(self, tenant: str, session: Session) -> Refusal | None:
        """Count the request; refuse it past the tenant's requests a minute."""
        limit = self.settings.rate_limit_per_minute
        if not limit:
            return None
        count = count_request(tenant, session=session)
        if count.requests <= limit:
            return None
        return too_many(f"more than {limit} requests a minute for this tenant", count.seconds_left)

    def limit_work(self, method: str, path: str, tenant: str, session: Session) -> Refusal | None:
        """Refuse new images while the tenant has too many unfinished jobs or the queue is full."""
        settings = self.settings
        if settings.max_active_jobs_per_tenant and creates_job(method, path):
            active = count_active_jobs(tenant, session=session)
            if active >= settings.max_active_jobs_per_tenant:
                return too_many(
                    f"this tenant has {active} unfinished jobs, the limit is "
                    f"{settings.max_active_jobs_per_tenant}: wait for some to finish",
                    BUSY_RETRY_SECONDS,
                )
        if settings.max_queue_depth and adds_items(method, path):
            queued = count_queued(session=session)
            if queued >= settings.max_queue_depth:
                return too_many(
                    f"{queued} images are waiting for a worker, the limit is "
                    f"{settings.max_queue_depth}: the service is busy",
                    BUSY_RETRY_SECONDS,
                )
        return None

    def admit(self, method: str, path: str, authorization: str | None) -> str | Refusal:
        """Return the request's tenant, or the refusal to answer instead."""
        with get_session(self.settings.resolved_database_url) as session:
            tenant = self.authenticate(authorization, session)
            if isinstance(tenant, Refusal):
                return tenant
            refusal = self.limit_rate(tenant, session)
            session.commit()  # release the tenant's rate row before the slower counts
            refusal = refusal or self.limit_work(method, path, tenant, session)
        if refusal is not None:
            logger.info("request refused", extra={"tenant": tenant, "status": refusal.status_code})
            return refusal
        return tenant


class AccessMiddleware:
    """Admit API requests before their body is read; pass the tenant on in the scope state."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.admission = Admission(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or not is_protected(path):
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        try:
            verdict = await anyio.to_thread.run_sync(
                self.admission.admit, scope["method"], path, authorization
            )
        except SQLAlchemyError as exc:
            logger.warning("admission could not reach the database: %s", type(exc).__name__)
            verdict = Refusal(
                503,
                "the database is unreachable; retry later",
                {"Retry-After": str(DATABASE_RETRY_SECONDS)},
            )
        if isinstance(verdict, Refusal):
            await verdict.response()(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = verdict
        await self.app(scope, receive, send)
