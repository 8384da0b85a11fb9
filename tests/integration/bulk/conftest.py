"""One real stack for the bulk tests: gateway and worker on PostgreSQL and a private Redis.

Package-scoped, so it stops once these tests are done and no idle worker lingers through
the rest of the session.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.stack import Stack, free_port, stop_process
from db.scratch import scratch_database
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, need, reachable
from tests.integration.conftest import stack_environment


@dataclass(frozen=True)
class SharedStack:
    """One gateway and worker on PostgreSQL and a private Redis, shared by many tests."""

    url: str
    database_url: str
    data_dir: Path
    env: dict[str, str]


#: Limits of the shared stack: low enough that tests reach them with small files.
SHARED_LIMITS = {
    "INFERQ_MAX_BATCH_SIZE": "32",
    "INFERQ_MAX_UPLOAD_BYTES": str(512 * 1024),
    "INFERQ_MAX_ARCHIVE_MEMBERS": "100",
    "INFERQ_MAX_ARCHIVE_BYTES": str(8 * 1024 * 1024),
    "INFERQ_MAX_COMPRESSION_RATIO": "50",
}


@pytest.fixture(scope="package")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of our own on a free port, so no other test can flush our queue."""
    need(REDIS_URL, "Redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, *arguments, "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not reachable(url):
        assert time.monotonic() < deadline, "private redis-server did not start"
        time.sleep(0.05)
    yield url
    stop_process(process)


@pytest.fixture(scope="package")
def shared_stack(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, private_redis: str
) -> Iterator[SharedStack]:
    """Gateway and one worker for the bulk, client, watch and evaluation tests."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    folder = tmp_path_factory.mktemp("shared-stack")
    with scratch_database(POSTGRES_ADMIN_URL, prefix="inferq_shared") as database_url:
        env = stack_environment(folder, database_url, private_redis, model_dir)
        env.update(SHARED_LIMITS)
        stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=folder)
        stack.start_gateway()
        stack.start_worker()
        try:
            stack.wait_ready()
            yield SharedStack(stack.url, database_url, folder / "data", env)
        finally:
            stack.stop()
