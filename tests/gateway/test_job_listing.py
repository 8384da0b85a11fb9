"""`GET /v1/jobs` filtered by status and creation time, across pages; 400 for a bad filter."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from core.settings import Settings
from db.jobs import cancel_job, get_job
from db.session import get_session
from tests.gateway.conftest import api_client, limited_settings, png_bytes


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


def submit_one(client: TestClient, seed: int) -> str:
    answer = client.post("/v1/jobs", files=[("files", (f"{seed}.png", png_bytes(seed)))])
    return str(answer.json()["job_id"])


def test_a_waiting_listing_answers_when_one_of_its_jobs_is_final(
    tmp_path: Path, database_url: str
) -> None:
    # On PostgreSQL the listing's reads run on the event loop (db.loop_sql).
    settings = limited_settings(tmp_path, database_url)
    with api_client(settings) as client:
        waits_until_one_is_final(client, settings)


def waits_until_one_is_final(client: TestClient, settings: Settings) -> None:
    ids = [submit_one(client, seed) for seed in range(2)]
    started = time.monotonic()
    pending = client.get("/v1/jobs", params={"ids": ",".join(ids), "wait_seconds": 0.6})
    assert time.monotonic() - started >= 0.6  # no worker here: it waited its time out
    assert [job["status"] for job in pending.json()["jobs"]] == ["queued", "queued"]

    def cancel_later() -> None:
        time.sleep(0.5)
        with get_session(settings.resolved_database_url) as session:
            job = get_job(uuid.UUID(ids[0]), session=session, tenant="lab")
            assert job is not None
            cancel_job(job, session=session)

    canceller = threading.Thread(target=cancel_later)
    canceller.start()
    started = time.monotonic()
    one = client.get("/v1/jobs", params={"ids": ",".join(ids), "wait_seconds": 30})
    waited = time.monotonic() - started
    canceller.join()
    statuses = {job["job_id"]: job["status"] for job in one.json()["jobs"]}
    assert statuses == {ids[0]: "cancelled", ids[1]: "queued"}
    assert 0.4 < waited < 15  # answered once one was final, long before the 30 s

    started = time.monotonic()
    final = client.get("/v1/jobs", params={"ids": ",".join(ids), "wait_seconds": 30})
    assert len(final.json()["jobs"]) == 2
    assert time.monotonic() - started < 15  # one is final already: no wait at all


def test_a_bad_wait_is_refused_with_a_reason(client: TestClient) -> None:
    job_id = submit_one(client, 0)
    alone = client.get("/v1/jobs", params={"wait_seconds": 5})
    assert alone.status_code == 400 and "ids" in alone.json()["detail"]
    for wait in ("31", "-1", "soon", "nan"):
        answer = client.get("/v1/jobs", params={"ids": job_id, "wait_seconds": wait})
        assert answer.status_code == 422, (wait, answer.text)


def test_past_its_waiting_places_a_listing_answers_at_once(client: TestClient) -> None:
    job_id = submit_one(client, 3)
    waiters = client.app.state.waiters  # type: ignore[attr-defined]
    with contextlib.ExitStack() as places:
        for _ in range(waiters.limit):
            assert places.enter_context(waiters.slot("listing"))
        assert waiters.count("predict") == 0  # /predict's places are its own
        started = time.monotonic()
        answer = client.get("/v1/jobs", params={"ids": job_id, "wait_seconds": 20})
        assert time.monotonic() - started < 10
    assert answer.status_code == 200 and answer.json()["jobs"][0]["status"] == "queued"
