"""One real gateway (uvicorn on PostgreSQL and Redis, keys required, two tenants) that every
attack in this package hits; its RSS after the whole suite must stay near its RSS before."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from db.api_keys import create_key
from db.session import get_session
from tests.lone_gateway import rss_of, running_gateway, scratch_services

RSS_GROWTH_LIMIT = 50 * 2**20
HEALTHZ_LIMIT_SECONDS = 1.0
CLIENT_TIMEOUT_SECONDS = 3.0  # the target's header and body read timeouts


@dataclass
class Target:
    """The gateway under attack: its URL, a key per tenant and what it stores."""

    url: str
    keys: dict[str, str]
    database_url: str
    data_dir: Path
    pid: int
    log_path: Path
    scans: Path | None = None  # slide folders: scans/<tenant>/, each tenant's own prefix

    def client(
        self, tenant: str = "lab", key: str | None = None, **options: object
    ) -> httpx.Client:
        """Return an HTTP client that sends the tenant's key (or `key`, made by a test)."""
        headers = {"Authorization": f"Bearer {key or self.keys[tenant]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **options)  # type: ignore[arg-type]

    def rss(self) -> int:
        """Return the gateway's resident memory in bytes."""
        return rss_of(self.pid)

    def healthz_seconds(self) -> float:
        """Return how long `/healthz` takes to answer 200."""
        started = time.perf_counter()
        response = httpx.get(f"{self.url}/healthz", timeout=30)
        assert response.status_code == 200, response.text
        return time.perf_counter() - started

    def blob_count(self) -> int:
        """Return how many blob files the gateway has stored."""
        blobs = self.data_dir / "blobs"
        return sum(1 for path in blobs.rglob("*") if path.is_file()) if blobs.exists() else 0


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Start the gateway once for the attack suite; check its RSS and probes afterwards."""
    tmp = tmp_path_factory.mktemp("attacks")
    with scratch_services("inferq_attack") as (database_url, broker_url):
        with get_session(database_url) as session:
            keys = {t: create_key(t, session=session).plaintext for t in ("lab", "other")}
        scans = tmp / "scans"
        for tenant in ("lab", "other"):
            (scans / tenant).mkdir(parents=True)
        sources = {t: [str(scans / t), f"gs://{t}-bucket/slides/"] for t in ("lab", "other")}
        settings = {
            "INFERQ_SLIDE_SOURCES": json.dumps(sources),
            "INFERQ_AUTH_ENABLED": "true",
            "INFERQ_RATE_LIMIT_PER_MINUTE": "0",
            "INFERQ_MAX_UNFINISHED_ITEMS_PER_TENANT": "0",
            "INFERQ_DATA_DIR": str(tmp / "data"),
            "INFERQ_DATABASE_URL": database_url,
            "INFERQ_BROKER_URL": broker_url,
            "INFERQ_MODEL_URI": str(tmp / "no-model"),
            "INFERQ_LOG_JSON": "true",
            "INFERQ_PREDICT_TIMEOUT_SECONDS": "1",  # no worker here: /predict answers 202
            # Short enough for the slow-client attacks to wait them out in seconds.
            "INFERQ_HEADER_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_SECONDS),
            "INFERQ_BODY_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_SECONDS),
        }
        with running_gateway(tmp, settings) as stack:
            assert stack.gateway is not None
            found = Target(
                stack.url, keys, database_url, tmp / "data", stack.gateway.pid, tmp / "gateway.log",
                scans,
            )  # fmt: skip
            warm_up(found)
            before = found.rss()
            yield found
            growth = found.rss() - before
            print(
                f"\nattack suite: gateway RSS {before / 2**20:.1f} -> {found.rss() / 2**20:.1f} MiB"
            )
            assert growth < RSS_GROWTH_LIMIT, f"gateway RSS grew {growth / 2**20:.0f} MiB"
            assert found.healthz_seconds() < HEALTHZ_LIMIT_SECONDS


def warm_up(target: Target) -> None:
    """Send the requests every later one builds on, so the baseline RSS includes them."""
    with target.client() as client:
        for _ in range(3):
            client.get("/v1/jobs")
            client.post("/v1/jobs", files=[("files", ("a.png", b"not an image", "image/png"))])
