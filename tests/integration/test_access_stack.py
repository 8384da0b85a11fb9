"""API keys, tenants and backpressure on the real stack: keys made by `inferq keys`, a uvicorn
gateway and a Celery worker on PostgreSQL and Redis, with auth on as compose runs it."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.stack import Stack, inferq_command
from db.migrate import upgrade
from tests.integration.conftest import (
    gateway_and_worker,
    stack_environment,
    tile_bytes,
    wait_for_job,
)

RATE_LIMIT = 100


def keys(env: dict[str, str], *args: str) -> str:
    """Run `inferq keys ...` and return what it printed on stdout."""
    done = subprocess.run(inferq_command("keys", *args), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def guarded_stack(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> Iterator[tuple[Stack, dict[str, str]]]:
    """A stack with keys required, a low rate limit and one unfinished image per tenant.

    Keys are trusted for 1 s; the usage counts refresh once a minute, so what the gateway
    admitted itself decides (the worker may finish an image before any refresh).
    """
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    env.update(
        INFERQ_AUTH_ENABLED="true",
        INFERQ_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
        INFERQ_MAX_UNFINISHED_ITEMS_PER_TENANT="1",
        INFERQ_ADMISSION_REFRESH_SECONDS="60",
        INFERQ_KEY_CACHE_SECONDS="1",
    )
    upgrade(postgres_url)
    tenants = {name: keys(env, "create", "--tenant", name).strip() for name in ("lab", "other")}
    with gateway_and_worker(env, tmp_path, workers_ready=True) as stack:
        yield stack, tenants


def client(stack: Stack, key: str) -> httpx.Client:
    """Return an HTTP client of the stack that sends a key."""
    return httpx.Client(base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {key}"})


def test_keys_tenants_and_backpressure(guarded_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, tenants = guarded_stack
    listing = keys(stack.env, "list")
    assert "lab" in listing and "other" in listing
    assert all(key not in listing and key[:12] in listing for key in tenants.values())
    files = [("files", (f"tile{i}.png", tile_bytes(i))) for i in range(8)]

    anonymous = httpx.post(f"{stack.url}/v1/jobs", files=files)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{stack.url}/readyz").status_code == 200  # probes need no key

    with client(stack, tenants["lab"]) as lab, client(stack, tenants["other"]) as other:
        job_id = lab.post("/v1/jobs", files=files).json()["job_id"]
        assert wait_for_job(lab, job_id)["counts"]["succeeded"] == 8
        stranger = other.get(f"/v1/jobs/{job_id}")
        unknown = other.get(f"/v1/jobs/{(missing := uuid.uuid4())}")
        assert stranger.status_code == unknown.status_code == 404
        assert stranger.json()["detail"].replace(job_id, str(missing)) == unknown.json()["detail"]
        assert other.get("/v1/metrics").json()["items_total"] == 0
        assert lab.get("/v1/metrics").json()["items_by_status"]["succeeded"] == 8

        opened = other.post("/v1/jobs", files=files[:1], data={"close": "false"})
        assert opened.status_code == 202
        busy = other.post("/v1/jobs", files=files[:1])
        assert busy.status_code == 429 and int(busy.headers["retry-after"]) > 0
        assert "queued or running" in busy.json()["detail"]

        # A fixed window refuses within 2 x limit requests even if a minute ends meanwhile.
        for _ in range(2 * RATE_LIMIT + 1):
            limited = other.get("/v1/metrics")
            if limited.status_code != 200:
                break
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert "requests a minute" in limited.json()["detail"]
        assert lab.get(f"/v1/jobs/{job_id}").status_code == 200  # tenants are limited apart

        keys(stack.env, "revoke", tenants["lab"][:12])
        revoked_at = time.monotonic()
        while (revoked := lab.get(f"/v1/jobs/{job_id}")).status_code == 200:
            assert time.monotonic() - revoked_at < 1.5, "a revoked key outlived the key cache"
            time.sleep(0.05)
        assert revoked.status_code == 401 and revoked.json()["detail"].startswith(
            "invalid or revoked API key"
        )
