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


# Connections kept and allowed past them, by purpose. Requests share the big pool; the
# readiness probe and the Prometheus collector have their own few connections (their
# threads are capped in gateway.pools), so a burst that checks out every request
# connection never makes /readyz or /metrics wait for one.
POOLS = {"requests": (20, 20), "probes": (4, 2)}


def make_engine(url: str, purpose: str = "requests") -> Engine:
    """Create an engine for PostgreSQL (psycopg 3) or SQLite, its pool sized for `purpose`."""
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
    pool_size, max_overflow = POOLS[purpose]
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)


@lru_cache(maxsize=8)
def _factory(url: str, purpose: str) -> sessionmaker[Session]:
    return sessionmaker(bind=make_engine(url, purpose), expire_on_commit=False)


def session_factory(url: str, purpose: str = "requests") -> sessionmaker[Session]:
    """Return the session factory for a database URL, one engine per process, URL and
    purpose (both always passed on, so a defaulted purpose is the same cache entry)."""
    return _factory(url, purpose)


@contextmanager
def get_session(url: str, purpose: str = "requests") -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error."""
    session = session_factory(url, purpose)()
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
    _factory.cache_clear()
