"""Throw-away PostgreSQL databases for tests and benchmarks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from db.migrate import upgrade
from db.session import dispose_engines


@contextmanager
def scratch_database(admin_url: str, prefix: str = "inferq_scratch") -> Iterator[str]:
    """Create a migrated database next to `admin_url`, yield its URL, then drop it."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        yield url
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
