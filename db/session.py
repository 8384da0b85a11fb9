"""Engine and session factory, created lazily so that forked workers build their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _enable_sqlite_concurrency(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the gateway read while a worker writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for PostgreSQL (psycopg 3) or SQLite."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _enable_sqlite_concurrency)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it costs a round trip per request. A connection a restart dropped fails
    # once, invalidates the pool, and the caller retries (503 with Retry-After, task retry).
    # More kept connections than the gateway's 16 sync-route threads: with 5, each request
    # past them opened a connection and closed it after (a new PostgreSQL backend each
    # time), which cost more CPU than the request's own SQL.
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


@lru_cache(maxsize=4)
def session_factory(url: str) -> sessionmaker[Session]:
    """Return the session factory for a database URL, one engine per process and URL."""
    return sessionmaker(bind=make_engine(url), expire_on_commit=False)


@contextmanager
def get_session(url: str) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Forget engines made before a fork, so a child opens its own connections."""
    session_factory.cache_clear()
