"""Dependencies wired once: settings, tenant, database sessions, the tenant's job, blob store,
task publisher.

Every database session of a route comes from here: `SessionDep` is the request's own
(committed when the route returns), and `SessionOpenerDep` opens short ones for work that
outlives it or runs on another thread (a streamed CSV's pages, `/predict`'s waits, the
readiness check). The trivial dependencies are `async`, so FastAPI runs them on the event
loop rather than taking a thread for each.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.commands import command_hint
from core.settings import Settings
from core.storage import BlobStore
from db.jobs import get_job
from db.models import Job
from db.session import get_session, session_factory
from gateway.publisher import Publisher

SessionOpener = Callable[[], AbstractContextManager[Session]]
T = TypeVar("T")


async def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description=f"An API key made by {command_hint('keys create --tenant NAME')}.",
)


async def get_tenant(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """Return the tenant the access middleware admitted this request as."""
    tenant: str | None = getattr(request.state, "tenant", None)
    if tenant is None:  # a path the middleware let through: fail closed
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this route needs an API key")
    return tenant


async def require_operator(request: Request, tenant: Annotated[str, Depends(get_tenant)]) -> str:
    """Return the tenant if its keys may see operator views, else answer 403."""
    settings: Settings = request.app.state.settings
    if not settings.auth_enabled or tenant in settings.operators:
        return tenant
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, "only operator tenants (INFERQ_OPERATOR_TENANTS) see this"
    )


async def get_session_opener(request: Request) -> SessionOpener:
    """Return what opens a session that commits on success and rolls back on error."""
    return partial(get_session, request.app.state.settings.resolved_database_url)


def finish(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and close a request's session."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """Yield a session that commits when the route returns without error.

    The session is made on the event loop (it connects when the route first uses it, on
    the route's thread) and finished on a worker thread: one trip through the thread pool
    rather than the two a sync dependency takes, on every route that reads the database.
    """
    session = session_factory(request.app.state.settings.resolved_database_url)()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still returns its connection
            await anyio.to_thread.run_sync(partial(finish, session, commit=False))
        raise
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(finish, session, commit=True))


def find_tenant_job(job_id: uuid.UUID, session: Session, tenant: str, *, lock: bool) -> Job:
    """Return the tenant's job or raise 404 (the same for another tenant's job)."""
    job = get_job(job_id, session=session, tenant=tenant, for_update=lock)
    if job is None:
        raise job_not_found(job_id)
    return job


def job_not_found(job_id: uuid.UUID) -> HTTPException:
    """Return the 404 for a job that is not the tenant's (the same whether it exists)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")


async def read_tenant_job(
    open_session: SessionOpener,
    job_id: uuid.UUID,
    tenant: str,
    read: Callable[[Job, Session], T],
) -> T:
    """Run `read` on the tenant's job (404 as `JobDep` answers) in one session, on one trip
    through the thread pool: `JobDep` and `SessionDep` take two more, before the route's
    own. For the reads clients poll."""

    def run() -> T:
        with open_session() as session:
            return read(find_tenant_job(job_id, session, tenant, lock=False), session)

    return await anyio.to_thread.run_sync(run)


def get_tenant_job(
    job_id: uuid.UUID,
    tenant: Annotated[str, Depends(get_tenant)],
    session: Annotated[Session, Depends(get_db)],
) -> Job:
    """Return the job of the path's `job_id` if it is the tenant's, else 404."""
    return find_tenant_job(job_id, session, tenant, lock=False)


def lock_tenant_job(
    job_id: uuid.UUID,
    tenant: Annotated[str, Depends(get_tenant)],
    session: Annotated[Session, Depends(get_db)],
) -> Job:
    """Return the tenant's job locked until the request commits (requests take turns)."""
    return find_tenant_job(job_id, session, tenant, lock=True)


async def get_store(request: Request) -> BlobStore:
    """Return the blob store."""
    store: BlobStore = request.app.state.store
    return store


async def get_publisher(request: Request) -> Publisher:
    """Return what publishes tasks by name."""
    publisher: Publisher = request.app.state.publisher
    return publisher


def only_parameters(*names: str) -> Callable[[Request], Awaitable[None]]:
    """Return a dependency that refuses (400) a query parameter the route does not know.

    A typo must not silently widen an answer (`?id=` listing every job).
    """
    known = frozenset(names)

    async def refuse_unknown_parameters(request: Request) -> None:
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"unknown query parameter {unknown[0]!r}; use {', '.join(sorted(known))}",
            )

    return refuse_unknown_parameters


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TenantDep = Annotated[str, Depends(get_tenant)]
SessionDep = Annotated[Session, Depends(get_db)]
SessionOpenerDep = Annotated[SessionOpener, Depends(get_session_opener)]
JobDep = Annotated[Job, Depends(get_tenant_job)]
LockedJobDep = Annotated[Job, Depends(lock_tenant_job)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
