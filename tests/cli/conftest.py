"""A real gateway on the embedded defaults (SQLite, folder queue, no worker, no keys)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cli.stack import Stack, free_port
from db.migrate import upgrade


@pytest.fixture(scope="package")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("gateway")
    env = {
        **os.environ,
        "INFERQ_DATA_DIR": str(folder / "data"),
        "INFERQ_AUTH_ENABLED": "false",
        "INFERQ_LOG_JSON": "false",
    }
    for name in ("INFERQ_DATABASE_URL", "INFERQ_BROKER_URL", "INFERQ_STORAGE_URL"):
        env.pop(name, None)
    upgrade(f"sqlite:///{folder / 'data' / 'inferq.db'}")
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=folder)
    stack.start_gateway()
    try:
        stack.wait_ready()
        yield stack.url
    finally:
        stack.stop()
