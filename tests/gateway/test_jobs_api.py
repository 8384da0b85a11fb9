"""The public API without a worker: submission, status, results, cancel and errors."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from tests.gateway.conftest import api_client, limited_settings, png_bytes


def submit(client: TestClient, *files: tuple[str, bytes]) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/jobs", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def queued_messages(settings: Settings, client: TestClient | None = None) -> list[Path]:
    """Return the folder broker's messages, once a running gateway has sent what it holds
    (its publisher sends after the 202, on its own thread)."""
    if client is not None:
        assert client.app.state.publisher.flush()  # type: ignore[attr-defined]
    return sorted((settings.broker_folder / "messages").glob("*.msg"))


def test_submit_answers_at_once_and_publishes_item_ids(
    client: TestClient, settings: Settings
) -> None:
    body = submit(client, ("a.png", png_bytes(1)), ("b.png", png_bytes(2)))
    assert body["status"] == "queued" and body["n_items"] == 2 and body["n_rejected"] == 0
    assert body["links"]["self"] == f"/v1/jobs/{body['job_id']}"
    messages = queued_messages(settings, client)
    assert len(messages) == 1  # two items fit in one task
    job = client.get(body["links"]["self"]).json()
    assert job["status"] == "queued"
    assert job["counts"]["total"] == 2 and job["counts"]["queued"] == 2


def test_items_are_chunked_by_batch_size(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, max_batch_size=2, _env_file=None
    )  # type: ignore[call-arg]
    with api_client(settings) as client:
        submit(client, *[(f"{i}.png", png_bytes(i)) for i in range(5)])
    assert len(queued_messages(settings)) == 3


def test_non_images_fail_alone_with_a_reason(client: TestClient) -> None:
    body = submit(client, ("good.png", png_bytes()), ("notes.png", b"just some text"))
    assert body["n_items"] == 1 and body["n_rejected"] == 1
    assert body["rejected"] == [
        {"filename": "notes.png", "reason": "not a recognised image format"}
    ]
    items = client.get(body["links"]["results"]).json()["items"]
    assert [(i["filename"], i["status"]) for i in items] == [
        ("good.png", "queued"),
        ("notes.png", "failed"),
    ]


def test_an_upload_without_any_image_is_415(client: TestClient, settings: Settings) -> None:
    response = client.post("/v1/jobs", files=[("files", ("x.jpg", b"%PDF-1.4 not an image"))])
    assert response.status_code == 415
    assert "x.jpg: not a recognised image format" in response.json()["detail"]
    assert queued_messages(settings) == []
    assert client.get("/v1/metrics").json()["jobs_total"] == 0


def test_missing_files_field_is_422(client: TestClient) -> None:
    response = client.post("/v1/jobs", data={"other": "x"})
    assert response.status_code == 422
    assert response.json() == {"detail": "invalid request: files: Field required"}


def test_body_over_the_limit_is_413_before_parsing(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, max_upload_bytes=10_000, _env_file=None
    )  # type: ignore[call-arg]
    with api_client(settings) as client:
        response = client.post("/v1/jobs", files=[("files", ("big.png", b"\0" * 20_000))])
    assert response.status_code == 413
    assert "10000-byte limit" in response.json()["detail"]
    assert not (settings.data_dir / "blobs").exists()


def test_one_oversized_image_is_refused_alone(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, max_image_bytes=500, _env_file=None
    )  # type: ignore[call-arg]
    small = png_bytes(size=(4, 4))
    with api_client(settings) as client:
        body = submit(client, ("small.png", small), ("big.png", png_bytes(size=(64, 64))))
        assert body["n_items"] == 1
        assert "500-byte limit" in body["rejected"][0]["reason"]
        only_big = client.post("/v1/jobs", files=[("files", ("big.png", png_bytes(size=(64, 64))))])
    assert only_big.status_code == 413


def test_results_paginate_and_export_csv(client: TestClient) -> None:
    body = submit(client, *[(f"dir/{i}.png", png_bytes(i)) for i in range(5)])
    first = client.get(body["links"]["results"], params={"limit": 2}).json()
    assert [i["filename"] for i in first["items"]] == ["dir/0.png", "dir/1.png"]
    second = client.get(
        body["links"]["results"], params={"limit": 10, "cursor": first["next_cursor"]}
    ).json()
    assert [i["filename"] for i in second["items"]] == ["dir/2.png", "dir/3.png", "dir/4.png"]
    assert second["next_cursor"] is None
    response = client.get(body["links"]["csv"])
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["filename"] for r in rows] == [f"dir/{i}.png" for i in range(5)]
    assert {r["status"] for r in rows} == {"queued"}


def test_bad_cursor_is_400(client: TestClient) -> None:
    body = submit(client, ("a.png", png_bytes()))
    assert client.get(body["links"]["results"], params={"cursor": "x"}).status_code == 400


def test_cancel_marks_unstarted_items(client: TestClient) -> None:
    body = submit(client, ("a.png", png_bytes(1)), ("b.png", png_bytes(2)))
    cancelled = client.delete(body["links"]["self"]).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"]["cancelled"] == 2
    assert cancelled["cancelled_at"] is not None


@pytest.mark.parametrize("path", ["/v1/jobs/{id}", "/v1/jobs/{id}/results"])
def test_unknown_job_is_404(client: TestClient, path: str) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = client.get(path.format(id=missing))
    assert response.status_code == 404
    assert missing in response.json()["detail"]


def test_filenames_lose_control_characters_and_leading_slashes(client: TestClient) -> None:
    body = submit(client, ("//etc/evil\u202e\u200b.png", png_bytes()))
    item = client.get(body["links"]["results"]).json()["items"][0]
    assert item["filename"] == "etc/evil.png"


def test_health_probes(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/health").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_broker_is_down(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        database_url=sqlite_url,
        broker_url="redis://127.0.0.1:1/0",
        _env_file=None,
    )  # type: ignore[call-arg]
    with api_client(settings) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable")


def test_readyz_answers_while_every_request_connection_is_taken(
    tmp_path: Path, postgres_url: str
) -> None:
    from db.session import POOLS, session_factory

    settings = Settings(data_dir=tmp_path / "d", database_url=postgres_url, _env_file=None)  # type: ignore[call-arg]
    engine = session_factory(settings.resolved_database_url).kw["bind"]
    with api_client(settings) as client:
        taken = [engine.connect() for _ in range(sum(POOLS["requests"]))]
        try:
            started = time.perf_counter()
            ready = client.get("/readyz")
            waited = time.perf_counter() - started
            metrics = client.get("/metrics")
        finally:
            for connection in taken:
                connection.close()
    # Sharing the request pool, the probe would wait its 30 s checkout timeout and fail.
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert waited < 5
    assert metrics.status_code == 200 and "inferq_items" in metrics.text


def test_submission_survives_a_broker_outage(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        database_url=sqlite_url,
        broker_url="redis://127.0.0.1:1/0",
        _env_file=None,
    )  # type: ignore[call-arg]
    with api_client(settings) as client:
        body = submit(client, ("a.png", png_bytes()))
        assert client.get(body["links"]["self"]).json()["counts"]["queued"] == 1
    from db.session import get_session
    from db.sweeps import find_stalled

    with get_session(sqlite_url) as session:  # the sweeper will publish it
        assert len(find_stalled(session=session, stale_queued_seconds=3600)) == 1


def test_prometheus_metrics_include_requests_and_queue_depth(client: TestClient) -> None:
    submit(client, ("a.png", png_bytes()))
    assert client.app.state.publisher.flush()  # type: ignore[attr-defined]
    text = client.get("/metrics").text
    assert 'inferq_wake_ups_total{outcome="sent"} 1.0' in text
    assert 'inferq_wake_ups_total{outcome="skipped"} 0.0' in text  # no worker drains
    assert 'inferq_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1.0' in text
    assert "inferq_queue_depth 1.0" in text and 'inferq_items{status="queued"} 1.0' in text
    assert "inferq_workers_ready 0.0" in text
    assert 'inferq_http_request_duration_seconds_bucket{le="0.5",method="POST"' in text
    assert "inferq_latency_ms" not in text  # no percentiles over the results table per scrape


def test_openapi_documents_every_error(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    submit_codes = set(schema["paths"]["/v1/jobs"]["post"]["responses"])
    assert {"202", "400", "413", "415", "422", "503"} <= submit_codes
    assert "404" in schema["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]
    # What one-image clients poll is read on the event loop on PostgreSQL: an outage is a 503.
    assert "503" in schema["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]
    assert "503" in schema["paths"]["/v1/jobs"]["get"]["responses"]
    for path in schema["paths"].values():
        for operation in path.values():
            assert operation.get("description") or operation.get("summary")


def test_many_jobs_are_read_in_one_call(tmp_path: Path, database_url: str) -> None:
    # On PostgreSQL a listing by IDs alone is read on the event loop (db.loop_sql).
    settings = limited_settings(tmp_path, database_url)
    with api_client(settings) as client:
        many_jobs_in_one_call(client, settings)


def many_jobs_in_one_call(client: TestClient, settings: Settings) -> None:
    ids = [
        client.post("/v1/jobs", files=[("files", (f"{i}.png", png_bytes(i)))]).json()["job_id"]
        for i in range(5)
    ]
    with api_client(settings, "other") as other:
        theirs = other.post("/v1/jobs", files=[("files", ("x.png", png_bytes(9)))]).json()
    wanted = [*ids[:3], theirs["job_id"], str(uuid.uuid4())]
    listed = client.get("/v1/jobs", params={"ids": ",".join(wanted)}).json()
    assert sorted(job["job_id"] for job in listed["jobs"]) == sorted(ids[:3])
    assert all(job["status"] == "queued" and job["counts"]["queued"] == 1 for job in listed["jobs"])
    repeated = client.get("/v1/jobs", params=[("ids", ids[3]), ("ids", ids[4])]).json()
    assert sorted(job["job_id"] for job in repeated["jobs"]) == sorted(ids[3:])

    first = client.get("/v1/jobs", params={"limit": 3}).json()
    second = client.get("/v1/jobs", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [job["job_id"] for job in first["jobs"] + second["jobs"]] == ids[::-1]
    assert second["next_cursor"] is None

    too_many = client.get("/v1/jobs", params={"ids": ",".join(ids * 21)})
    assert too_many.status_code == 400 and "at most 100" in too_many.json()["detail"]
    assert client.get("/v1/jobs", params={"ids": "nope"}).status_code == 400
    assert client.get("/v1/jobs", params={"cursor": "nope"}).status_code == 400
    assert client.get("/v1/jobs", params={"id": ids[0]}).status_code == 400  # a typo


def test_metrics_name_the_throughput_window(client: TestClient) -> None:
    metrics = client.get("/v1/metrics").json()
    assert metrics["throughput_per_second"] == 0
    assert metrics["throughput_window_seconds"] == 60
    field = client.get("/openapi.json").json()["components"]["schemas"]["MetricsPublic"]
    assert (
        "throughput_window_seconds" in field["properties"]["throughput_per_second"]["description"]
    )


def test_a_final_job_says_when_it_expires(client: TestClient) -> None:
    body = submit(client, ("a.png", png_bytes(3)))
    queued = client.get(body["links"]["self"]).json()
    assert queued["images_expire_at"] is None and queued["expires_at"] is None
    cancelled = client.delete(body["links"]["self"]).json()
    final = datetime.fromisoformat(cancelled["cancelled_at"])
    images = datetime.fromisoformat(cancelled["images_expire_at"])
    rows = datetime.fromisoformat(cancelled["expires_at"])
    assert images - final == timedelta(hours=24)  # the defaults: a day, then 30 days
    assert rows - final == timedelta(days=30)
    listed = client.get("/v1/jobs", params={"ids": body["job_id"]}).json()["jobs"][0]
    assert listed["expires_at"] == cancelled["expires_at"]
