"""`GET /v1/jobs` filtered by status and creation time, across pages; 400 for a bad filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.gateway.conftest import png_bytes


def test_status_and_dates_filter_every_page(client: TestClient) -> None:
    ids = [
        client.post("/v1/jobs", files=[("files", (f"{i}.png", png_bytes(i)))]).json()["job_id"]
        for i in range(5)
    ]
    assert client.delete(f"/v1/jobs/{ids[1]}").status_code == 200

    cancelled = client.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [job["job_id"] for job in cancelled["jobs"]] == [ids[1]]
    queued = [ids[4], ids[3], ids[2], ids[0]]
    first = client.get("/v1/jobs", params={"status": "queued", "limit": 2}).json()
    rest = client.get(
        "/v1/jobs", params={"status": "queued", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [job["job_id"] for job in first["jobs"] + rest["jobs"]] == queued
    both = client.get("/v1/jobs", params=[("status", "cancelled,open"), ("status", "queued")])
    assert len(both.json()["jobs"]) == 5

    now = datetime.now(UTC)
    later = client.get("/v1/jobs", params={"created_after": (now + timedelta(minutes=1))})
    assert later.json()["jobs"] == []
    naive = (now - timedelta(minutes=5)).replace(tzinfo=None).isoformat()  # read as UTC
    window = client.get("/v1/jobs", params={"created_after": naive, "created_before": now})
    assert len(window.json()["jobs"]) == 5


def test_a_bad_filter_is_refused_with_a_reason(client: TestClient) -> None:
    bad = client.get("/v1/jobs", params={"status": "done"})
    assert bad.status_code == 400 and "'done' is not a job status" in bad.json()["detail"]
    assert client.get("/v1/jobs", params={"status": ","}).status_code == 400
    assert client.get("/v1/jobs", params={"created_after": "yesterday"}).status_code == 422
    for number in ("0.0", "1700000000", "-1e3"):  # not read as seconds since 1970
        answer = client.get("/v1/jobs", params={"created_before": number})
        assert answer.status_code == 422 and "ISO 8601" in answer.text, answer.text
    typo = client.get("/v1/jobs", params={"state": "queued"})
    assert typo.status_code == 400 and "status" in typo.json()["detail"]
