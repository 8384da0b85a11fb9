"""The attack target itself: keys are required and tenants cannot see each other's jobs."""

from __future__ import annotations

import httpx

from tests.attacks.conftest import Target
from tests.integration.conftest import tile_bytes


def test_other_tenants_job_is_not_found(target: Target) -> None:
    with target.client("lab") as lab, target.client("other") as other:
        created = lab.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(1), "image/png"))])
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        assert other.get(f"/v1/jobs/{job_id}").status_code == 404
        assert lab.get(f"/v1/jobs/{job_id}").status_code == 200


def test_requests_without_a_key_are_refused(target: Target) -> None:
    assert httpx.get(f"{target.url}/v1/jobs").status_code == 401
    assert target.healthz_seconds() < 1.0
