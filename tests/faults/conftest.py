"""Fault-suite fixtures: Redis and PostgreSQL servers of our own, which tests may stop."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.stack import Stack
from db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, need
from tests.faults.probes import Probe, running_stack, start_worker, wait_healthy
from tests.faults.servers import PostgresServer, RedisServer, postgres_binary


def need_binaries(*names: str) -> None:
    """Skip when a server program the fault needs is not installed."""
    for name in names:
        found = shutil.which(name) or Path(postgres_binary(name)).is_absolute()
        if not found:
            pytest.skip(f"{name} is not installed")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running Redis of this test's own."""
    need(REDIS_URL, "Redis")  # the same gate as the other service tests
    need_binaries("redis-server")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL cluster of this module's own, with a migrated `inferq` database."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    need_binaries("initdb", "pg_ctl")
    server = PostgresServer()
    try:
        server.start()
        upgrade(server.create_database())
        yield server
    finally:
        server.remove()


@dataclass(frozen=True)
class Infrastructure:
    """A gateway and one worker on servers the tests may flush, stop and restart."""

    stack: Stack
    redis: RedisServer
    postgres: PostgresServer
    probe: Probe


@pytest.fixture(scope="module")
def infrastructure(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, postgres_server: PostgresServer
) -> Iterator[Infrastructure]:
    """One stack for every server fault of a module: a worker start costs ~20 s."""
    need_binaries("redis-server")
    folder = tmp_path_factory.mktemp("infrastructure")
    redis = RedisServer(folder)
    redis.start()
    probe = Probe(postgres_server.url)
    # One batch per wake-up: a draining worker would finish the job whatever Redis lost
    # (test_cross_job.py), hiding the path these faults are about, the sweeper's.
    env = {"INFERQ_MAX_BATCH_SIZE": "4", "INFERQ_MAX_DRAIN_SECONDS": "0.001"}
    try:
        with running_stack(folder, postgres_server.url, redis.url, model_dir, **env) as stack:
            _, port = start_worker(stack)
            wait_healthy([port])
            yield Infrastructure(stack, redis, postgres_server, probe)
    finally:
        probe.dispose()
        redis.stop()
