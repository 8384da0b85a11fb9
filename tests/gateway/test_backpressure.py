"""Backpressure: 429 with Retry-After past a tenant's rate, unfinished jobs or a full queue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from db.models import Item
from gateway.app import create_app
from tests.gateway.conftest import api_client, count_rows, limited_settings, new_key, png_bytes


def test_a_tenant_past_its_rate_gets_429_and_others_do_not(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = datetime(2026, 12, 1, 12, 0, 15, tzinfo=UTC).timestamp()  # one window throughout
    monkeypatch.setattr("gateway.access.time.time", lambda: moment)
    settings = limited_settings(tmp_path, sqlite_url, rate_limit_per_minute=3)
    with api_client(settings, "lab") as lab, api_client(settings, "other") as other:
        answers = [lab.get("/v1/metrics").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = lab.post("/v1/jobs", files=[("files", ("a.png", png_bytes()))])
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "45"  # the rest of the minute
        assert "requests a minute" in refused.json()["detail"]
        assert other.get("/v1/metrics").status_code == 200
        assert lab.get("/healthz").status_code == 200  # probes are never limited
    assert count_rows(settings, Item) == 0


def test_rate_counts_are_shared_between_gateways(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = datetime(2026, 12, 1, 12, 0, 15, tzinfo=UTC).timestamp()
    monkeypatch.setattr("gateway.access.time.time", lambda: moment)
    settings = limited_settings(
        tmp_path, sqlite_url, rate_limit_per_minute=4, admission_refresh_seconds=0.001
    )
    key = new_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings), headers=headers) as first:
        assert [first.get("/v1/metrics").status_code for _ in range(3)] == [200] * 3
    with TestClient(create_app(settings), headers=headers) as second:  # another instance
        assert [second.get("/v1/metrics").status_code for _ in range(2)] == [200, 429]


def test_too_many_unfinished_images_refuses_more(tmp_path: Path, sqlite_url: str) -> None:
    settings = limited_settings(
        tmp_path, sqlite_url, max_unfinished_items_per_tenant=2, admission_refresh_seconds=0.001
    )
    two = [("files", (f"{i}.png", png_bytes(i))) for i in range(2)]
    with api_client(settings, "lab") as lab, api_client(settings, "other") as other:
        job_id = lab.post("/v1/jobs", files=two, data={"close": "false"}).json()["job_id"]
        more = [("files", ("c.png", png_bytes(3)))]
        for refused in (
            lab.post("/v1/jobs", files=more),
            lab.post(f"/v1/jobs/{job_id}/items", files=more),
            lab.post("/predict", files={"file": ("c.png", png_bytes(3))}),
            lab.post("/v1/jobs/slides", json={"slides": [{"url": "/scans/a.svs"}]}),
        ):
            assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
            assert "2 images queued or running" in refused.json()["detail"]
        assert lab.get(f"/v1/jobs/{job_id}").status_code == 200  # reading is never refused
        assert other.post("/v1/jobs", files=more).status_code == 202
        lab.delete(f"/v1/jobs/{job_id}")  # nothing started: both images are cancelled
        assert lab.post("/v1/jobs", files=more).status_code == 202
    assert count_rows(settings, Item) == 4


def test_a_full_queue_refuses_every_new_image(tmp_path: Path, sqlite_url: str) -> None:
    settings = limited_settings(
        tmp_path, sqlite_url, max_queue_depth=2, admission_refresh_seconds=0.001
    )
    with api_client(settings, "lab") as lab:
        files = [("files", (f"{i}.png", png_bytes(i))) for i in range(2)]
        job_id = lab.post("/v1/jobs", files=files, data={"close": "false"}).json()["job_id"]
        more = [("files", ("c.png", png_bytes(3)))]
        for refused in (
            lab.post("/v1/jobs", files=more),
            lab.post(f"/v1/jobs/{job_id}/items", files=more),
            lab.post("/predict", files={"file": ("c.png", png_bytes(3))}),
            lab.post("/v1/jobs/slides", json={"slides": [{"url": "/scans/a.svs"}]}),
        ):
            assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
            assert "2 images are waiting" in refused.json()["detail"]
        assert lab.get(f"/v1/jobs/{job_id}").status_code == 200  # reading is never refused
    assert count_rows(settings, Item) == 2
