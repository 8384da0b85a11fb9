"""Each container's command line from docker-compose.yml, run here as a process.

The compose environment is kept, with its addresses swapped for the loopback PostgreSQL and
Redis, and only what the image installs and copies can be imported. The SIGTERM hand-back
of a batch in flight is tests/integration/test_shutdown.py's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from cli.stack import free_port
from db.api_keys import create_key
from db.migrate import alembic_config
from db.session import get_session
from tests.deploy.conftest import ROOT, local_command, local_environment, spawn

SIGTERM_BUDGET_SECONDS = 10.0  # Cloud Run's grace period before SIGKILL
# For each image, a package it must hold and one it must not.
# (MLflow brings FastAPI into the worker image, so the upload parser marks the gateway.)
IMAGE_CONTENTS = {
    "gateway": ("fastapi", "tensorflow"),
    "worker": ("tensorflow", "python_multipart"),
}


def addresses(tmp_path: Path, database_url: str, redis_url: str, port: int) -> dict[str, str]:
    """Return the local stand-ins for the compose addresses and the image's folders."""
    return {
        "INFERQ_DATABASE_URL": database_url,
        "INFERQ_BROKER_URL": redis_url,
        "INFERQ_STORAGE_URL": str(tmp_path / "blobs"),
        "INFERQ_DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
    }


def terminate(process: subprocess.Popen[bytes], log: Path, *codes: int) -> float:
    """Send SIGTERM, wait for the exit and return how long it took; the exit must be clean."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(SIGTERM_BUDGET_SECONDS + 5)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"no exit after SIGTERM; see {log}") from None
    assert code in {0, *codes}, f"exit code {code}; see {log}"
    return time.monotonic() - started


def poll(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> list[int]:
    """Poll a URL until it answers 200; return every status seen on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != 200:
        assert process.poll() is None, f"exited with {process.returncode}; see {log}"
        assert time.monotonic() < deadline, f"{url} answered {seen[-5:]}; see {log}"
        with contextlib.suppress(httpx.TransportError):
            seen.append(httpx.get(url, timeout=2).status_code)
        time.sleep(0.05)
    return seen


@pytest.mark.parametrize("name", sorted(IMAGE_CONTENTS))
def test_each_image_environment_holds_only_its_packages(name: str, tmp_path: Path) -> None:
    held, absent = IMAGE_CONTENTS[name]
    script = (
        "import importlib.util\n"
        f"assert importlib.util.find_spec({held!r})\n"
        "try:\n"
        f"    importlib.util.find_spec({absent!r})\n"
        "except ModuleNotFoundError:\n"
        "    pass\n"
        "else:\n"
        f"    raise SystemExit('{absent} would be importable')\n"
    )
    env = local_environment(name, INFERQ_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()


def test_migrate_runs_twice_on_a_new_database(tmp_path: Path, empty_postgres_url: str) -> None:
    env = local_environment(
        "migrate", INFERQ_DATABASE_URL=empty_postgres_url, INFERQ_DATA_DIR=str(tmp_path)
    )
    for attempt in range(2):
        result = subprocess.run(
            local_command("migrate"), env=env, cwd=tmp_path, capture_output=True, timeout=120
        )
        assert result.returncode == 0, f"run {attempt + 1}: {result.stdout!r} {result.stderr!r}"
    head = ScriptDirectory.from_config(alembic_config(empty_postgres_url)).get_current_head()
    engine = create_engine(empty_postgres_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert [row[0] for row in versions] == [head]


def test_gateway_and_worker_serve_the_smoke_test_and_stop_on_sigterm(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    worker_port, gateway_port = free_port(), free_port()
    worker_env = local_environment(
        "worker",
        **addresses(tmp_path, postgres_url, redis_url, worker_port),
        INFERQ_MODEL_URI=str(model_dir),
    )
    gateway_env = local_environment(
        "gateway", **addresses(tmp_path, postgres_url, redis_url, gateway_port)
    )
    worker_log, gateway_log = tmp_path / "worker.log", tmp_path / "gateway.log"
    worker = spawn(local_command("worker"), worker_env, worker_log)
    gateway = spawn(local_command("gateway"), gateway_env, gateway_log)
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    try:
        seen = poll(f"http://127.0.0.1:{worker_port}/", worker, worker_log, timeout=90)
        assert 503 in seen  # the health endpoint answered while the model was loading
        health = httpx.get(f"http://127.0.0.1:{worker_port}/").json()
        assert health["status"] == "ok" and health["model_version"]
        poll(f"{gateway_url}/readyz", gateway, gateway_log, timeout=60)
        checks = httpx.get(f"{gateway_url}/readyz").json()["checks"]
        assert checks == {"database": "ok", "broker": "ok"}
        # Compose and Cloud Run keep keys required; CD's smoke test sends SMOKE_API_KEY.
        assert httpx.get(f"{gateway_url}/v1/model").status_code == 401
        with get_session(postgres_url) as session:
            key = create_key("smoke", session=session).plaintext
        smoke = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "smoke.py"), gateway_url],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "INFERQ_API_KEY": key},
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr  # /predict via the worker
        assert terminate(worker, worker_log) < SIGTERM_BUDGET_SECONDS
        # Uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert terminate(gateway, gateway_log, -signal.SIGTERM) < SIGTERM_BUDGET_SECONDS
    finally:
        worker.kill()
        gateway.kill()
