"""Dependencies wired once: settings, tenant, database session, blob store, task publisher.

The trivial ones are `async`, so FastAPI runs them on the event loop rather than taking a
thread for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.settings import Settings
from core.storage import BlobStore
from db.session import get_session


async def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made by `inferq keys create --tenant NAME`.",
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


def get_db(request: Request) -> Iterator[Session]:
    """Yield a session that commits when the route returns without error."""
    with get_session(request.app.state.settings.resolved_database_url) as session:
        yield session


async def get_store(request: Request) -> BlobStore:
    """Return the blob store."""
    store: BlobStore = request.app.state.store
    return store


async def get_publisher(request: Request) -> Celery:
    """Return the Celery app used to publish tasks by name."""
    publisher: Celery = request.app.state.publisher
    return publisher


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TenantDep = Annotated[str, Depends(get_tenant)]
SessionDep = Annotated[Session, Depends(get_db)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
PublisherDep = Annotated[Celery, Depends(get_publisher)]
