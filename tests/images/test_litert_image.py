"""The LiteRT worker image: Dockerfile.worker built without TensorFlow, serving the int8 file.

Its worker runs compose's worker command and environment, as the TensorFlow image's does in
test_images.py, behind a gateway run from the gateway image; its cold start (container
start to health 200) goes to the end of the test output with the image sizes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cli.stack import free_port
from db.api_keys import create_key
from db.session import get_session
from tests.images.compose_run import (
    compose_command,
    container_environment,
    container_volumes,
    service_image,
)
from tests.images.conftest import REPORT, run_in, start_in
from tests.images.test_images import (
    HAS_NO,
    SIGTERM_BUDGET_SECONDS,
    start_service,
    submit_and_wait,
    wait_healthy,
)

pytestmark = [pytest.mark.images, pytest.mark.services]


def test_litert_image_serves_the_int8_model_without_tensorflow(
    litert_image: str,
    images: dict[str, str],
    empty_postgres_url: str,
    redis_url: str,
    blobs: Path,
    tmp_path: Path,
) -> None:
    absent = run_in(litert_image, ["python", "-c", HAS_NO, "tensorflow", "keras"])
    assert absent.returncode == 0, f"TensorFlow in the LiteRT image: {absent.stderr}"
    addresses = {"INFERQ_DATABASE_URL": empty_postgres_url, "INFERQ_BROKER_URL": redis_url}
    migrate_env = container_environment("migrate", free_port(), **addresses)
    migrated = run_in(service_image("migrate"), compose_command("migrate"), env=migrate_env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    named = {"blobs": blobs}
    # The worker starts alone, so that its cold start is its own.
    started = time.monotonic()
    worker = start_in(
        litert_image,
        compose_command("worker"),  # the image's entrypoint is the TensorFlow image's
        tmp_path / "worker-litert.log",
        env=container_environment("worker", free_port(), **addresses),
        volumes=container_volumes("worker", named),
    )
    gateway = None
    try:
        wait_healthy(f"http://127.0.0.1:{worker.env['PORT']}/", worker, timeout=120)
        cold_start = time.monotonic() - started
        REPORT.append(f"{litert_image} cold start: {cold_start:.1f} s to health 200")
        gateway = start_service("gateway", tmp_path, addresses, named)
        gateway_url = f"http://127.0.0.1:{gateway.env['PORT']}"
        wait_healthy(f"{gateway_url}/readyz", gateway, timeout=60)
        with get_session(empty_postgres_url) as session:
            key = create_key("litert-image", session=session).plaintext
        labels = submit_and_wait(gateway_url, key, tmp_path)
        assert len(labels) == 4 and set(labels) <= {"benign", "malignant"}
        served = httpx.get(
            f"{gateway_url}/v1/model", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()
        assert (served["runtime"], served["precision"]) == ("litert", "int8")
        assert worker.stop() < SIGTERM_BUDGET_SECONDS + 5, worker.text()[-2000:]
        assert worker.process.returncode == 0, worker.text()[-2000:]
        gateway.stop()  # SIGTERM: build-local.sh removes its container (kill would leave it)
    finally:
        worker.kill()
        if gateway is not None:
            gateway.kill()
