"""A gateway of its own for a test module: a scratch PostgreSQL database, a random Redis
database as its broker, and uvicorn started from the CLI; no worker."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from cli.stack import Stack, free_port
from db.scratch import scratch_database
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, need


def rss_of(pid: int) -> int:
    """Return a process's resident memory in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


@contextmanager
def scratch_services(prefix: str) -> Iterator[tuple[str, str]]:
    """Yield (database URL, broker URL): a new database and a Redis database flushed after."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    need(REDIS_URL, "Redis")
    broker_url = f"{REDIS_URL}/{1 + secrets.randbelow(15)}"
    with scratch_database(POSTGRES_ADMIN_URL, prefix=prefix) as database_url:
        try:
            yield database_url, broker_url
        finally:
            redis.Redis.from_url(broker_url).flushdb()


@contextmanager
def running_gateway(tmp: Path, settings: dict[str, str]) -> Iterator[Stack]:
    """Start a gateway with these settings over the environment; yield it once ready."""
    stack = Stack(
        url=f"http://127.0.0.1:{free_port()}", env={**os.environ, **settings}, log_dir=tmp
    )
    stack.start_gateway()
    try:
        stack.wait_ready()
        assert stack.gateway is not None
        yield stack
    finally:
        stack.stop()
