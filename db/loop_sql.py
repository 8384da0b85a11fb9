"""PostgreSQL on the gateway's event loop, for the call that must cost least: `POST
/predict` with one image.

Every other route reaches the database through SQLAlchemy sessions on the thread pool. Under
64 `/predict` callers a trip through that pool costs more CPU than the SQL it carries (the
event loop and the pool's threads hand the GIL back and forth), and a one-image call made
two; so that call runs its three statements here, on psycopg's async connections in
pipeline mode, with no thread.

The statements are the SQLAlchemy ones the sessions run (db.jobs' rows, db.tenant_rules,
db.results), compiled once for psycopg: no SQL is written twice. PostgreSQL only; the
embedded SQLite takes the sessions' path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import JSON, Table, bindparam, insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.sql import ClauseElement

from db.models import Item, Job, table_of
from db.results import OUTCOME
from db.tenant_rules import RULES, TenantRules, rules_from_row

DIALECT = postgresql_psycopg.dialect()
# As many connections as the sessions' request pool keeps (db.session.POOLS): a /predict
# call holds one for two round trips, so a few serve many callers.
MAX_CONNECTIONS = 20
CONNECT_TIMEOUT_SECONDS = 5.0


class Compiled:
    """A SQLAlchemy statement as psycopg runs it: its SQL text and its fixed parameters."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        self.sql = str(compiled)
        self.fixed = dict(compiled.params)

    def params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Return the statement's parameters with `given` bound."""
        return {**self.fixed, **given}


class RowInsert:
    """An INSERT of whole rows into a table, its JSON columns adapted as SQLAlchemy does."""

    def __init__(self, table: Table, columns: tuple[str, ...]) -> None:
        self.compiled = Compiled(insert(table).values({name: bindparam(name) for name in columns}))
        self.columns = columns
        self._json = {column.name for column in table.c if isinstance(column.type, JSON)}

    def params(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return one row's parameters (JSON values wrapped for psycopg)."""
        return {
            name: Json(value) if name in self._json and value is not None else value
            for name, value in row.items()
        }


def plain_url(url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as libpq reads it."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


class LoopDatabase:
    """Async connections to one PostgreSQL database, opened on first use in the running
    event loop and closed with the app."""

    def __init__(self, url: str) -> None:
        self._conninfo = plain_url(url)
        self._pool: AsyncConnectionPool | None = None
        self._inserts: dict[tuple[str, tuple[str, ...]], RowInsert] = {}
        self._rules = Compiled(RULES)
        self._outcome = Compiled(OUTCOME)
        self._checks: set[asyncio.Task[None]] = set()

    async def _open(self) -> AsyncConnectionPool:
        if self._pool is None:
            pool = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=MAX_CONNECTIONS,
                timeout=CONNECT_TIMEOUT_SECONDS,
                # Reads are single statements; a write says where its transaction runs.
                kwargs={"row_factory": namedtuple_row, "autocommit": True},
                open=False,
            )
            await pool.open(wait=False)
            self._pool = pool
        return self._pool

    async def close(self) -> None:
        """Close the connections (the app's shutdown)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Lend a connection (autocommit: each statement is its own transaction unless a
        block opens one).

        A connection that fails for an outage is dropped by the pool; the others are then
        checked in the background, since a restart killed them too.
        """
        pool = await self._open()
        try:
            async with pool.connection() as connection:
                yield connection
        except psycopg.OperationalError:
            check = asyncio.create_task(pool.check())
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)
            raise

    def _insert(self, table: Table, row: dict[str, Any]) -> RowInsert:
        key = (table.name, tuple(row))
        statement = self._inserts.get(key)
        if statement is None:
            statement = self._inserts[key] = RowInsert(table, tuple(row))
        return statement

    async def read_rules(self, tenant: str) -> TenantRules:
        """Return the rules a tenant's new job follows (db.tenant_rules)."""
        async with self._connection() as connection:
            cursor = await connection.execute(
                self._rules.sql, self._rules.params({"tenant": tenant})
            )
            return rules_from_row(await cursor.fetchone())

    async def insert_job(self, job: dict[str, Any], items: list[dict[str, Any]]) -> None:
        """Insert a job's row and its items' rows (from db.jobs) in one transaction, sent as
        one round trip."""
        job_insert = self._insert(table_of(Job), job)
        async with (
            self._connection() as connection,
            connection.pipeline(),
            connection.transaction(),
        ):
            await connection.execute(job_insert.compiled.sql, job_insert.params(job))
            for row in items:
                item_insert = self._insert(table_of(Item), row)
                await connection.execute(item_insert.compiled.sql, item_insert.params(row))

    async def read_outcome(self, job_id: uuid.UUID) -> Any:
        """Return a one-item job's outcome row, as db.results.read_outcome does."""
        async with self._connection() as connection:
            cursor = await connection.execute(
                self._outcome.sql, self._outcome.params({"job_id": job_id})
            )
            return await cursor.fetchone()
