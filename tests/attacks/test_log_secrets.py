"""A key sent where it does not belong (the query string) never reaches the gateway's log."""

from __future__ import annotations

import time

import httpx

from tests.attacks.conftest import Target


def test_keys_in_query_strings_and_headers_are_not_logged(target: Target) -> None:
    key = target.keys["lab"]
    marker = f"marker{time.monotonic_ns()}"
    with target.client() as client:
        client.get("/v1/jobs", params={"api_key": key, "limit": 1})  # 400: unknown parameter
        client.get("/v1/jobs", params={"token": key, "cursor": marker})
        client.get("/v1/jobs", params={"k": key})
        client.get(f"/v1/jobs/{key}")
    anonymous = httpx.get(f"{target.url}/v1/jobs", params={"access_token": key}, timeout=30)
    assert anonymous.status_code == 401  # a key is only read from the Authorization header
    httpx.get(f"{target.url}/healthz", params={"secret": key, "password": "hunter2"}, timeout=30)
    time.sleep(0.5)  # the access log line is written after the answer
    log = target.log_path.read_text()
    assert key not in log
    assert key[:20] not in log
    assert "hunter2" not in log
    assert "api_key=***&limit=1" in log  # the line is there, with what is not secret
    assert f"token=***&cursor={marker}" in log
    assert "k=iq_***" in log and "/v1/jobs/iq_***" in log
    assert target.healthz_seconds() < 1.0
