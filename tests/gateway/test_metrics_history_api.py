"""`GET /v1/metrics/history`: empty buckets for a quiet tenant, 4xx for a bad window."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_history_has_every_bucket_and_refuses_too_many(client: TestClient) -> None:
    history = client.get("/v1/metrics/history", params={"minutes": 10, "step_seconds": 30})
    assert history.status_code == 200, history.text
    body = history.json()
    assert body["step_seconds"] == 30 and len(body["buckets"]) == 20
    assert all(bucket["results"] == 0 for bucket in body["buckets"])
    many = client.get("/v1/metrics/history", params={"minutes": 1440, "step_seconds": 10})
    assert many.status_code == 400 and "at most 720" in many.json()["detail"]
    assert client.get("/v1/metrics/history", params={"step_seconds": 1}).status_code == 422
