"""The process's engines of one database: one that sees a dropped connection renews the
others' pools, so a probe that noticed a restart spares the next request the dead one."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from db.session import get_session


def backend_pids(url: str, purpose: str) -> set[int]:
    """Check a connection out and back in; return the PID of its server process."""
    with get_session(url, purpose) as session:
        return {session.execute(text("SELECT pg_backend_pid()")).scalar_one()}


def test_a_dropped_probe_connection_renews_the_request_pool(postgres_url: str) -> None:
    request_pids = backend_pids(postgres_url, "requests")
    probe_pids = backend_pids(postgres_url, "probes")
    admin = create_engine(postgres_url)
    with admin.connect() as connection:  # what a server restart does to every backend
        for pid in request_pids | probe_pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()

    with pytest.raises(OperationalError):
        backend_pids(postgres_url, "probes")  # no pre-ping: the probe meets the dead one
    # The request pool was renewed with it: a fresh connection, no error.
    assert backend_pids(postgres_url, "requests").isdisjoint(request_pids)
