"""Admission before the body is read: who the caller is (API key), and whether it may send
more now (rate, unfinished items, queue depth). Refusals cost the gateway no upload parsing.

The common case touches no database: the key's tenant comes from the key cache and the
counts from the usage ledger (gateway.usage). A cache miss costs one key lookup; a stale
ledger costs one refresh a second, which the request that finds it stale runs while
others go on with the last counts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.commands import command_hint
from core.settings import Settings
from db.api_keys import find_tenant, hash_key
from db.models import DEFAULT_TENANT
from db.quotas import add_requests, count_unfinished
from db.session import get_session
from gateway.pools import Pools
from gateway.throttle import FailureThrottle
from gateway.usage import TimedCache, UsageLedger
from gateway.warm import WarmUp

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 30  # what a 429 for unfinished work or a full queue asks clients to wait
DATABASE_RETRY_SECONDS = 5
MAX_KNOWN_KEYS = 10_000
# The usual cause of an unknown key is one made against another database (the CLI's
# embedded SQLite while the gateway runs on PostgreSQL): say so, naming no database.
UNKNOWN_KEY = (
    "invalid or revoked API key; if it is new, check that it was made against this "
    f"gateway's database ({command_hint('keys create')} with the gateway's "
    "INFERQ_DATABASE_URL)"
)


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of running the route."""

    status_code: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        """Return the JSON error response."""
        return JSONResponse({"detail": self.detail}, self.status_code, headers=self.headers)


DATABASE_DOWN = Refusal(
    503, "the database is unreachable; retry later", {"Retry-After": str(DATABASE_RETRY_SECONDS)}
)

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


DOCS_ASSETS = "/docs/static"  # Swagger UI and ReDoc files, open like the pages that load them
WEB_PAGES = "/web/"  # the web page's documents and assets: they hold no data, the API calls do


def route_path(scope: Scope) -> str:
    """Return the request path without the app's mount prefix (uvicorn's --root-path)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def is_web_page(path: str) -> bool:
    """Return whether a path is the web page's (its sign-in at `/`, its pages and assets)."""
    return path == "/" or path.startswith(WEB_PAGES)


def is_protected(path: str) -> bool:
    """Return whether a path needs an API key: all but health, docs, Prometheus and the page."""
    if is_web_page(path) or path.startswith(DOCS_ASSETS + "/"):
        return False
    return path.rstrip("/") not in OPEN_PATHS


def adds_items(method: str, path: str) -> bool:
    """Return whether a request queues images (a new job, more files, slides, or /predict)."""
    if method != "POST":
        return False
    path = path.rstrip("/")
    return path in {"/v1/jobs", "/v1/jobs/slides", "/predict"} or path.endswith("/items")


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

    def __init__(self, settings: Settings, pools: Pools) -> None:
        self.settings = settings
        self.pools = pools
        self.keys: TimedCache[str, str | None] = TimedCache(settings.key_cache_seconds)
        self.ledger = UsageLedger(settings.admission_refresh_seconds)
        self.failures = FailureThrottle(settings.auth_failures_per_minute)
        self.known_keys: set[str] = set()  # hashes this process found valid: never throttled

    def lookup_key(self, token: str) -> str | None:
        """Return the tenant of a key from the database, and remember it."""
        key_hash = hash_key(token)
        with get_session(self.settings.resolved_database_url) as session:
            tenant = find_tenant(token, session=session)
        self.keys.put(key_hash, tenant)
        return tenant

    async def check_key(self, token: str, client: str) -> str | Refusal | None:
        """Return the key's tenant (None: no such key), looked up unless the client is
        throttled for failed lookups and the key was never seen valid here."""
        key_hash = hash_key(token)
        tenant = self.keys.get(key_hash)
        if tenant is not TimedCache.MISSING:
            return tenant if isinstance(tenant, str) else None
        if key_hash not in self.known_keys and (wait := self.failures.retry_after(client)):
            return too_many("too many requests with unknown API keys from this address", wait)
        found = await self.pools.run(self.pools.admission, self.lookup_key, token)
        if found is not None:
            if len(self.known_keys) >= MAX_KNOWN_KEYS:
                self.known_keys.clear()
            self.known_keys.add(key_hash)
            return found
        self.known_keys.discard(key_hash)
        if self.failures.spend(client):
            logger.warning("unknown API keys from %s: lookups throttled", client)
        return None

    async def authenticate(self, authorization: str | None, client: str) -> str | Refusal:
        """Return the caller's tenant, or a 401 (a 429 while its address is throttled)."""
        if not self.settings.auth_enabled:
            return DEFAULT_TENANT
        token = bearer_token(authorization)
        if token is None:
            return unauthorized("missing API key: send it as 'Authorization: Bearer <key>'")
        tenant = await self.check_key(token, client)
        if tenant is None:
            return unauthorized(UNKNOWN_KEY)
        return tenant

    def refresh(self) -> None:
        """Flush this process's request counts and read everyone's totals and work."""
        if not self.ledger.refreshing.acquire(blocking=False):
            return  # another request is refreshing: go on with the last counts
        try:
            window, deltas = self.ledger.take_unflushed(time.time())
            try:
                with get_session(self.settings.resolved_database_url) as session:
                    totals = add_requests(deltas, window, session=session)
                    work = count_unfinished(session=session)
            except BaseException:
                self.ledger.give_back(deltas, window)
                raise
            self.ledger.apply(window, totals, work)
        finally:
            self.ledger.refreshing.release()

    def limit_rate(self, tenant: str) -> Refusal | None:
        """Count the request; refuse it past the tenant's requests a minute."""
        limit = self.settings.rate_limit_per_minute
        if not limit:
            return None
        requests, seconds_left = self.ledger.requests(tenant, time.time())
        if requests <= limit:
            return None
        return too_many(f"more than {limit} requests a minute for this tenant", seconds_left)

    def limit_work(self, method: str, path: str, tenant: str) -> Refusal | None:
        """Refuse new images while the tenant has too much unfinished or the queue is full."""
        settings = self.settings
        if not adds_items(method, path):
            return None
        limit = settings.max_unfinished_items_per_tenant
        if limit and (unfinished := self.ledger.unfinished(tenant)) >= limit:
            return too_many(
                f"this tenant has {unfinished} images queued or running, the limit is "
                f"{limit}: wait for some to finish",
                BUSY_RETRY_SECONDS,
            )
        depth = settings.max_queue_depth
        if depth and (queued := self.ledger.queued()) >= depth:
            return too_many(
                f"{queued} images are waiting for a worker, the limit is {depth}: "
                "the service is busy",
                BUSY_RETRY_SECONDS,
            )
        self.ledger.note_added(tenant)
        return None

    async def admit(
        self, method: str, path: str, authorization: str | None, client: str
    ) -> str | Refusal:
        """Return the request's tenant, or the refusal to answer instead."""
        try:
            tenant = await self.authenticate(authorization, client)
            if isinstance(tenant, Refusal):
                return tenant
            if self.settings.rate_limit_per_minute:
                self.ledger.count_request(tenant, time.time())  # before a refresh flushes it
            if self.ledger.stale():
                await self.pools.run(self.pools.admission, self.refresh)
        except SQLAlchemyError as exc:
            logger.warning("admission could not reach the database: %s", type(exc).__name__)
            return DATABASE_DOWN
        refusal = self.limit_rate(tenant) or self.limit_work(method, path, tenant)
        if refusal is not None:
            logger.info("request refused", extra={"tenant": tenant, "status": refusal.status_code})
            return refusal
        return tenant


class AccessMiddleware:
    """Admit API requests before their body is read; pass the tenant on in the scope state.
    The first request admitted starts the gateway's warm-up (gateway.warm)."""

    def __init__(self, app: ASGIApp, admission: Admission, warm_up: WarmUp) -> None:
        self.app = app
        self.admission = admission
        self.warm_up = warm_up

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or not is_protected(path):
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        client = scope.get("client") or ("unknown", 0)
        verdict = await self.admission.admit(scope["method"], path, authorization, client[0])
        if isinstance(verdict, Refusal):
            await verdict.response()(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = verdict
        self.warm_up.begin()
        await self.app(scope, receive, send)
