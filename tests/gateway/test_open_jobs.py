"""One job over many requests: open, add, close; idempotency keys; duplicate content."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.settings import Settings
from tests.gateway.conftest import png_bytes
from tests.gateway.test_jobs_api import queued_messages


def open_job(client: TestClient, *files: tuple[str, bytes], key: str | None = None) -> dict:  # type: ignore[type-arg]
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post(
        "/v1/jobs", data={"close": "false"}, files=[("files", f) for f in files], headers=headers
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def add(client: TestClient, job: dict, *files: tuple[str, bytes], key: str | None = None):  # type: ignore[no-untyped-def,type-arg]
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(job["links"]["items"], files=[("files", f) for f in files], headers=headers)


def test_an_open_job_fills_over_requests_and_is_queued_at_once(
    client: TestClient, settings: Settings
) -> None:
    job = open_job(client, ("a.png", png_bytes(1)))
    assert job["status"] == "open"
    assert len(queued_messages(settings, client)) == 1  # inference starts before the job is closed
    second = add(client, job, ("b.png", png_bytes(2)), ("c.png", png_bytes(3)))
    assert second.status_code == 202 and second.json()["n_items"] == 2
    assert len(queued_messages(settings, client)) == 2
    state = client.get(job["links"]["self"]).json()
    assert state["status"] == "open" and state["counts"]["total"] == 3
    closed = client.post(job["links"]["close"])
    assert closed.status_code == 200 and closed.json()["status"] == "queued"
    assert client.post(job["links"]["close"]).json()["closed_at"] == closed.json()["closed_at"]
    late = add(client, job, ("d.png", png_bytes(4)))
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    names = [i["filename"] for i in client.get(job["links"]["results"]).json()["items"]]
    assert names == ["a.png", "b.png", "c.png"]


def test_retries_with_the_same_key_add_nothing_twice(client: TestClient) -> None:
    job = open_job(client, ("a.png", png_bytes(1)), key="create-1")
    assert open_job(client, ("a.png", png_bytes(1)), key="create-1") == job
    first = add(client, job, ("b.png", png_bytes(2)), key="add-1")
    again = add(client, job, ("b.png", png_bytes(2)), key="add-1")
    assert again.status_code == 202 and again.json() == first.json()
    reused = add(client, job, ("c.png", png_bytes(3)), key="create-1")
    assert reused.status_code == 422 and "already used" in reused.json()["detail"]
    assert client.get(job["links"]["self"]).json()["counts"]["total"] == 2
    assert client.get("/v1/metrics").json()["jobs_total"] == 1


def test_content_already_in_the_job_is_not_added_twice(client: TestClient) -> None:
    job = open_job(client, ("a.png", png_bytes(1)), ("copy-of-a.png", png_bytes(1)))
    assert job["n_items"] == 1 and job["duplicates"][0]["filename"] == "copy-of-a.png"
    again = add(client, job, ("a-renamed.png", png_bytes(1)), ("b.png", png_bytes(2))).json()
    assert again["n_items"] == 1 and again["n_duplicates"] == 1
    assert client.get(job["links"]["self"]).json()["counts"]["total"] == 2


def test_a_manifest_matches_files_sent_before_and_after_it(client: TestClient) -> None:
    manifest = (
        b"filename,label,patient_id\nearly.png,benign,P1\nlate.png,malignant,P2\nnone.png,x,P3\n"
    )
    job = open_job(client, ("early.png", png_bytes(1)))
    response = client.post(job["links"]["items"], files=[("manifest", ("m.csv", manifest))])
    assert response.status_code == 202 and response.json()["n_items"] == 0
    assert response.json()["manifest"]["unmatched"] == ["late.png", "none.png"]
    add(client, job, ("late.png", png_bytes(2)))
    closed = client.post(job["links"]["close"]).json()
    assert closed["manifest"]["unmatched"] == ["none.png"]
    items = client.get(job["links"]["results"]).json()["items"]
    assert [(i["filename"], i["patient_id"]) for i in items] == [
        ("early.png", "P1"),
        ("late.png", "P2"),
    ]


def test_unknown_cancelled_and_empty_additions(client: TestClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = client.post(f"/v1/jobs/{missing}/items", files=[("files", ("a.png", png_bytes()))])
    assert response.status_code == 404
    assert client.post(f"/v1/jobs/{missing}/close").status_code == 404
    job = open_job(client, ("a.png", png_bytes(1)))
    assert client.post(job["links"]["items"], data={"x": "y"}).status_code == 400
    client.delete(job["links"]["self"])
    refused = add(client, job, ("b.png", png_bytes(2)))
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
