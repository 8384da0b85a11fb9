"""A gateway app on SQLite and the folder broker; no worker consumes its tasks here."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from core.settings import Settings
from db.api_keys import create_key
from db.models import Item, Job
from db.session import get_session
from gateway.app import create_app


def png_bytes(seed: int = 0, size: tuple[int, int] = (40, 30)) -> bytes:
    """Return a small random PNG."""
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def new_key(settings: Settings, tenant: str = "lab") -> str:
    """Create an API key of a tenant in the settings' database and return it."""
    with get_session(settings.resolved_database_url) as session:
        return create_key(tenant, session=session).plaintext


def api_client(settings: Settings, tenant: str = "lab") -> TestClient:
    """Return a test client of a new app that sends a new API key of the tenant."""
    headers = {"Authorization": f"Bearer {new_key(settings, tenant)}"}
    return TestClient(create_app(settings), headers=headers)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with api_client(settings) as test_client:
        yield test_client


def limited_settings(tmp_path: Path, database_url: str, **limits: float) -> Settings:
    """Return settings on temporary folders with some limits changed."""
    return Settings(data_dir=tmp_path / "d", database_url=database_url, _env_file=None, **limits)  # type: ignore[call-arg]


def count_rows(settings: Settings, model: type[Item] | type[Job]) -> int:
    """Return how many items or jobs the settings' database holds."""
    with get_session(settings.resolved_database_url) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def stored_blobs(settings: Settings) -> int:
    """Return how many blobs the gateway stored."""
    return sum(1 for path in (settings.data_dir / "blobs").rglob("*") if path.is_file())
