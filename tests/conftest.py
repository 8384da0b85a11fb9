"""Shared fixtures: settings on temporary folders, real databases, a served model."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

from core.settings import Settings
from db.migrate import upgrade
from db.session import dispose_engines

POSTGRES_ADMIN_URL = os.environ.get(
    "INFERQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("INFERQ_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REQUIRE_SERVICES = os.environ.get("INFERQ_REQUIRE_SERVICES") == "1"


def reachable(url: str) -> bool:
    """Return whether a TCP connection to the URL's host and port succeeds."""
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):
            return True
    except OSError:
        return False


def need(url: str, name: str) -> None:
    """Skip (or fail, when services are required) if a service is down."""
    if reachable(url):
        return
    message = f"{name} at {url} is not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and INFERQ_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database in a temporary folder."""
    url = f"sqlite:///{tmp_path / 'inferq.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created and migrated PostgreSQL database, dropped afterwards."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    name = f"inferq_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database backend in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database index of the shared server, emptied afterwards."""
    need(REDIS_URL, "Redis")
    import redis

    index = 1 + secrets.randbelow(15)
    url = f"{REDIS_URL}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Embedded-default settings on temporary folders."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        model_uri=str(tmp_path / "no-model"),
        _env_file=None,  # type: ignore[call-arg]
    )
