"""Long polls of the job listing (`wait_seconds`) against the real gateway: bad waits are
refused with a reason, and another tenant's job is neither shown nor waited for."""

from __future__ import annotations

import time

import pytest

from tests.attacks.conftest import Target
from tests.integration.conftest import tile_bytes


@pytest.fixture(scope="module")
def job_id(target: Target) -> str:
    with target.client() as client:  # no worker serves this gateway: it stays queued
        created = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(900)))])
        assert created.status_code == 202, created.text
        return str(created.json()["job_id"])


@pytest.mark.parametrize("wait", ["31", "1e9", "-0.5", "nan", "inf", "soon", ""])
def test_a_wait_out_of_range_is_a_422(target: Target, job_id: str, wait: str) -> None:
    with target.client() as client:
        answer = client.get("/v1/jobs", params={"ids": job_id, "wait_seconds": wait})
    assert answer.status_code == 422, (wait, answer.text)
    assert "wait_seconds" in answer.text


def test_a_wait_without_ids_is_a_400(target: Target) -> None:
    with target.client() as client:
        answer = client.get("/v1/jobs", params={"wait_seconds": 1})
    assert answer.status_code == 400 and "send ids too" in answer.json()["detail"]


def test_another_tenants_job_is_not_waited_for(target: Target, job_id: str) -> None:
    with target.client("other") as client:
        started = time.monotonic()
        answer = client.get("/v1/jobs", params={"ids": job_id, "wait_seconds": 20})
    assert answer.status_code == 200 and answer.json()["jobs"] == []
    assert time.monotonic() - started < 10  # nothing of its own to wait for: at once


def test_the_owner_waits_its_time_and_sees_the_job(target: Target, job_id: str) -> None:
    with target.client() as client:
        started = time.monotonic()
        answer = client.get("/v1/jobs", params={"ids": job_id, "wait_seconds": 1.5})
    assert time.monotonic() - started >= 1.5
    assert [job["status"] for job in answer.json()["jobs"]] == ["queued"]
