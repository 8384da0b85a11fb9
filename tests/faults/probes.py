"""What fault tests look at: items and results in the database, job submission, worker health."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from cli.stack import Stack, free_port
from tests.integration.conftest import stack_environment, tile_bytes

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class ItemRow:
    """One item as the database holds it."""

    id: str
    filename: str
    status: str
    attempts: int
    worker_id: str | None
    error: str | None


class Probe:
    """Reads a job's items and results straight from PostgreSQL, tolerating outages."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url, pool_pre_ping=True)

    def items(self, job_id: str) -> list[ItemRow]:
        """Return the job's items."""
        query = text(
            "SELECT id, filename, status, attempts, worker_id, error FROM items WHERE job_id = :j"
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"j": job_id}).all()
        return [ItemRow(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def all_items(self) -> list[tuple[str, ItemRow]]:
        """Return every item of the database with its job ID."""
        query = text("SELECT job_id, id, filename, status, attempts, worker_id, error FROM items")
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(str(r[0]), ItemRow(str(r[1]), r[2], r[3], r[4], r[5], r[6])) for r in rows]

    def total_results(self) -> tuple[int, int]:
        """Return the database's result rows and the distinct items they are for."""
        query = text("SELECT count(*), count(DISTINCT item_id) FROM results")
        with self.engine.connect() as connection:
            rows, distinct = connection.execute(query).one()
        return int(rows), int(distinct)

    def result_counts(self, job_id: str) -> tuple[int, int]:
        """Return the job's result rows and the distinct items they are for."""
        query = text("SELECT count(*), count(DISTINCT item_id) FROM results WHERE job_id = :j")
        with self.engine.connect() as connection:
            rows, distinct = connection.execute(query, {"j": job_id}).one()
        return int(rows), int(distinct)

    def republished(self, job_id: str) -> int:
        """Return how many of the job's items were published again after their submission."""
        query = text("SELECT count(*) FROM items WHERE job_id = :j AND published_at > created_at")
        with self.engine.connect() as connection:
            return int(connection.execute(query, {"j": job_id}).scalar_one())

    def wait_done(self, job_id: str, timeout: float = 120.0) -> list[ItemRow]:
        """Poll until no item of the job is queued or running; return the items."""
        deadline = time.monotonic() + timeout
        items: list[ItemRow] = []
        while time.monotonic() < deadline:
            try:
                items = self.items(job_id)
                if items and not any(item.status in ACTIVE for item in items):
                    return items
            except OperationalError:
                pass  # the database is down for the test; keep polling
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not done in {timeout} s: {summarize(items)}")

    def dispose(self) -> None:
        """Close the probe's connections."""
        self.engine.dispose()


def summarize(items: list[ItemRow]) -> dict[str, int]:
    """Count items by status."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def tiles(count: int, prefix: str, seed: int = 0) -> list[tuple[str, tuple[str, bytes]]]:
    """Return multipart `files` parts of distinct random tiles."""
    return [("files", (f"{prefix}{i:04d}.png", tile_bytes(seed + i))) for i in range(count)]


def submit(url: str, files: list[Any]) -> tuple[str, float]:
    """Submit a job; return its ID and how long the 202 took."""
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/jobs", files=files, timeout=60)
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"]), elapsed


def start_worker(stack: Stack, **env: str) -> tuple[Any, int]:
    """Start a worker with a health port; return the process and its port."""
    port = free_port()
    return stack.start_worker(INFERQ_HEALTH_PORT=str(port), **env), port


def wait_healthy(ports: list[int], timeout: float = 180.0) -> None:
    """Wait until every worker's health endpoint answers 200 (model loaded, consuming)."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            assert time.monotonic() < deadline, f"worker on port {port} not ready in {timeout} s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


@contextmanager
def running_stack(
    folder: Path, database_url: str, broker_url: str, model_dir: Path, **env: str
) -> Iterator[Stack]:
    """A gateway (ready) with no workers yet, stopped afterwards."""
    environment = stack_environment(folder, database_url, broker_url, model_dir)
    environment.update(env)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=environment, log_dir=folder)
    stack.start_gateway()
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
