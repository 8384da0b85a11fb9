"""Dependencies wired once: settings, database session, blob store, task publisher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from core.settings import Settings
from core.storage import BlobStore
from db.session import get_session


def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """Yield a session that commits when the route returns without error."""
    with get_session(request.app.state.settings.resolved_database_url) as session:
        yield session


def get_store(request: Request) -> BlobStore:
    """Return the blob store."""
    store: BlobStore = request.app.state.store
    return store


def get_publisher(request: Request) -> Celery:
    """Return the Celery app used to publish tasks by name."""
    publisher: Celery = request.app.state.publisher
    return publisher


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_db)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
PublisherDep = Annotated[Celery, Depends(get_publisher)]
