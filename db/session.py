"""Engine and session factory, created lazily so that forked workers build their own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, ExceptionContext, create_engine, event
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


_factories: dict[tuple[str, str], sessionmaker[Session]] = {}
_factories_lock = threading.Lock()


def _renew_siblings(url: str) -> Callable[[ExceptionContext], None]:
    """On a dropped connection, renew the pools of the process's other engines of `url`.

    The server restarted, so their idle connections are dead too: without this, the first
    request after a restart that the probe already noticed would still fail on one.
    """

    def renew(context: ExceptionContext) -> None:
        if not context.is_disconnect:
            return
        for (other_url, _), factory in list(_factories.items()):
            engine = factory.kw["bind"]
            if other_url == url and engine is not context.engine:
                engine.dispose()  # idle connections closed; checked-out ones on return

    return renew


def session_factory(url: str, purpose: str = "requests") -> sessionmaker[Session]:
    """Return the session factory for a database URL, one engine per process, URL and
    purpose."""
    key = (url, purpose)
    factory = _factories.get(key)
    if factory is None:
        with _factories_lock:
            factory = _factories.get(key)
            if factory is None:
                engine = make_engine(url, purpose)
                event.listen(engine, "handle_error", _renew_siblings(url))
                factory = sessionmaker(bind=engine, expire_on_commit=False)
                _factories[key] = factory
    return factory


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
    with _factories_lock:
        _factories.clear()
