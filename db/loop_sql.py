"""PostgreSQL on the gateway's event loop, for the calls that must cost least: one image to
`POST /predict`, or alone in a plain `POST /v1/jobs` (gateway.loop_intake), and the listing
of jobs by IDs that their clients poll (gateway.job_listing).

Every other route reaches the database through SQLAlchemy sessions on the thread pool. Under
64 `/predict` callers a trip through that pool costs more CPU than the SQL it carries (the
event loop and the pool's threads hand the GIL back and forth), and a one-image call made
two; so these calls run their statements here, on psycopg's async connections in pipeline
mode, with no thread.

The statements are the SQLAlchemy ones the sessions run (db.jobs' rows and states,
db.tenant_rules, db.results), compiled once for psycopg: no SQL is written twice. PostgreSQL
only; the embedded SQLite takes the sessions' path.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Select, Table, bindparam, insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.sql import ClauseElement

from db.jobs import (
    NAMED_JOBS,
    JobState,
    any_of_ids,
    item_counts,
    job_states,
    served_models,
)
from db.models import Item, Job, table_of
from db.results import OUTCOME
from db.slides import SLIDE_TOTALS, TILES_DONE, SlideCounts, progress_of
from db.tenant_rules import RULES, TenantRules, rules_from_row

logger = logging.getLogger(__name__)

DIALECT = postgresql_psycopg.dialect()
# A /predict call, a one-image job and a poll of jobs each hold a connection for one round
# trip at a time (well under a millisecond), so a few serve 64 callers and more; more
# connections would only spend PostgreSQL's `max_connections`, which each gateway process
# already draws on for its sessions' pools (db.session.POOLS).
MAX_CONNECTIONS = 8
# How long a call waits for a free connection (or for the first one to open) before the
# outage answer, 503.
CHECKOUT_TIMEOUT_SECONDS = 5.0


class Compiled:
    """A SQLAlchemy statement as psycopg runs it: its SQL text and its fixed parameters."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        self.sql = str(compiled)
        self.fixed = dict(compiled.params)

    def params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Return the statement's parameters with `given` bound."""
        return {**self.fixed, **given}


class CompiledSelect(Compiled):
    """A SELECT whose values come back as a session returns them: each column's type turns
    its value (the UTC-only timestamps, in UTC whatever the connection's time zone)."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        super().__init__(statement)
        self.names = tuple(str(column.key) for column in statement.selected_columns)
        self._processors = [
            column.type.dialect_impl(DIALECT).result_processor(DIALECT, None)
            for column in statement.selected_columns
        ]

    def values(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """Return one row's values, each turned by its column's type."""
        return tuple(
            value if turn is None else turn(value)
            for turn, value in zip(self._processors, row, strict=True)
        )


class RowInsert:
    """An INSERT of whole rows into a table, each value adapted by its column's type as a
    session adapts it (JSON, the UTC-only timestamps)."""

    def __init__(self, table: Table, columns: tuple[str, ...]) -> None:
        self.sql = Compiled(insert(table).values({name: bindparam(name) for name in columns})).sql
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for name in columns:
            column_type = table.c[name].type
            processor = column_type.dialect_impl(DIALECT).bind_processor(DIALECT)
            if processor is not None:
                self._processors[name] = processor

    def params(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return one row's parameters."""
        processors = self._processors
        return {
            name: processors[name](value) if name in processors else value
            for name, value in row.items()
        }


def plain_url(url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as libpq reads it."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


class LoopDatabase:
    """Async connections to one PostgreSQL database, opened on first use in the running
    event loop (again if another loop asks, as a test client's may) and closed with the
    app."""

    def __init__(self, url: str) -> None:
        self._conninfo = plain_url(url)
        self._pool: AsyncConnectionPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inserts: dict[tuple[str, tuple[str, ...]], RowInsert] = {}
        self._rules = Compiled(RULES)
        self._outcome = Compiled(OUTCOME)
        self._named_jobs = CompiledSelect(NAMED_JOBS)
        self._item_counts = CompiledSelect(item_counts(any_of_ids))
        self._served_models = CompiledSelect(served_models(any_of_ids))
        self._slide_totals = CompiledSelect(SLIDE_TOTALS)
        self._tiles_done = CompiledSelect(TILES_DONE)

    async def _open(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            if self._pool is not None:  # its tasks died with the loop that made them
                logger.warning("database connections reopened on another event loop")
            pool = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=MAX_CONNECTIONS,
                timeout=CHECKOUT_TIMEOUT_SECONDS,
                # Reads are single statements; a write's pipeline is its transaction.
                kwargs={"row_factory": namedtuple_row, "autocommit": True},
                open=False,
            )
            await pool.open(wait=False)
            self._pool, self._loop = pool, loop
        return self._pool

    async def close(self) -> None:
        """Close the connections (the app's shutdown)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = self._loop = None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Lend a connection (autocommit: each statement commits alone, unless a pipeline
        holds several).

        A connection that fails for an outage is dropped by the pool, and the idle ones are
        checked before the error goes on: a restart killed them too, and the next calls
        would each meet one.
        """
        pool = await self._open()
        try:
            async with pool.connection() as connection:
                yield connection
        except PoolTimeout:  # none free, or none could open: nothing to check
            raise
        except psycopg.OperationalError:
            await pool.check()
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
        """Insert a job's row and its items' rows (from db.jobs) in one transaction and one
        round trip.

        In autocommit mode the pipeline sends its statements with one Sync at the end, and
        PostgreSQL runs the statements before a Sync as one implicit transaction: all of
        them commit at the Sync, or none if one fails.
        """
        job_insert = self._insert(table_of(Job), job)
        async with self._connection() as connection, connection.pipeline():
            await connection.execute(job_insert.sql, job_insert.params(job))
            for row in items:
                item_insert = self._insert(table_of(Item), row)
                await connection.execute(item_insert.sql, item_insert.params(row))

    async def read_outcome(self, job_id: uuid.UUID) -> Any:
        """Return a one-item job's outcome row, as db.results.read_outcome does."""
        async with self._connection() as connection:
            cursor = await connection.execute(
                self._outcome.sql, self._outcome.params({"job_id": job_id})
            )
            return await cursor.fetchone()

    async def _select(
        self, reads: list[tuple[CompiledSelect, dict[str, Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Run SELECTs in one round trip (one implicit transaction, up to the pipeline's
        Sync; under READ COMMITTED each sees what had committed when it began, as the
        sessions' reads do); return each one's rows, turned by their columns' types."""
        async with self._connection() as connection, connection.pipeline():
            cursors = [
                await connection.execute(statement.sql, statement.params(params), prepare=True)
                for statement, params in reads
            ]
            return [
                [statement.values(row) for row in await cursor.fetchall()]
                for (statement, _), cursor in zip(reads, cursors, strict=True)
            ]

    def _state_reads(
        self, tenant: str, job_ids: list[uuid.UUID]
    ) -> list[tuple[CompiledSelect, dict[str, Any]]]:
        given = {"job_ids": job_ids}
        return [
            (self._named_jobs, {"tenant": tenant, **given}),
            (self._item_counts, given),
            (self._served_models, given),
        ]

    def _states(self, rows: list[list[tuple[Any, ...]]]) -> list[JobState]:
        names = self._named_jobs.names
        jobs = [Job(**dict(zip(names, row, strict=True))) for row in rows[0]]
        return job_states(jobs, rows[1], rows[2])

    async def read_job_states(self, tenant: str, job_ids: list[uuid.UUID]) -> list[JobState]:
        """Return the tenant's jobs among `job_ids`, newest first, with their states, as a
        listing by IDs reads them on a session (db.jobs.read_job_states)."""
        return self._states(await self._select(self._state_reads(tenant, job_ids)))

    async def read_job(
        self, tenant: str, job_id: uuid.UUID
    ) -> tuple[JobState, SlideCounts | None] | None:
        """Return the tenant's job with its state and slide progress, as a job's status
        reads them on a session (gateway.views.to_public), or None: not the tenant's."""
        given = {"job_id": job_id}
        reads = [*self._state_reads(tenant, [job_id])]
        reads += [(self._slide_totals, given), (self._tiles_done, given)]
        rows = await self._select(reads)
        states = self._states(rows)
        if not states:
            return None
        (slides, planned), (done,) = rows[3][0], rows[4][0]
        return states[0], progress_of(slides, planned, done)
