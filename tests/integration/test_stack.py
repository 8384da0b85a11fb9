"""End to end on real PostgreSQL, Redis, a uvicorn gateway and Celery worker processes."""

from __future__ import annotations

import csv
import io
import os
import time

import httpx
from sqlalchemy import select

from cli.stack import Stack
from core.settings import Settings
from db.models import Result
from db.session import get_session
from tests.integration.conftest import FINAL, tile_bytes, wait_for_job


def test_a_folder_round_trip_with_a_corrupt_image(real_stack: Stack, postgres_url: str) -> None:
    files = [("files", (f"slide1/tile{i:02d}.png", tile_bytes(i))) for i in range(20)]
    files.append(("files", ("slide1/broken.png", tile_bytes(99)[:500])))  # truncated PNG
    files.append(("files", ("slide1/readme.png", b"not an image at all")))
    with httpx.Client(base_url=real_stack.url, timeout=60) as client:
        accepted = client.post("/v1/jobs", files=files)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["n_items"] == 21 and body["n_rejected"] == 1
        job = wait_for_job(client, body["job_id"])
        assert job["status"] == "partially_failed"
        assert job["counts"]["succeeded"] == 20 and job["counts"]["failed"] == 2
        assert len(job["model"]) == 1
        items = client.get(body["links"]["results"], params={"limit": 100}).json()["items"]
        by_name = {item["filename"]: item for item in items}
        assert "corrupt image data" in by_name["slide1/broken.png"]["error"]
        assert by_name["slide1/readme.png"]["error"] == "not a recognised image format"
        good = [item for item in items if item["status"] == "succeeded"]
        assert len(good) == 20
        for item in good:
            assert item["label"] in {"benign", "malignant"}
            assert 0.5 <= item["probability"] <= 1.0
            assert item["model_version"] and "worker_id" not in item  # operators only
            latency = item["latency_ms"]
            assert latency["inference"] > 0 and latency["total"] >= latency["queue"] >= 0
        with get_session(postgres_url) as session:
            workers = set(session.scalars(select(Result.worker_id)))
        assert workers == {"worker-0"}
        rows = list(csv.DictReader(io.StringIO(client.get(body["links"]["csv"]).text)))
        assert len(rows) == 22 and {"score_benign", "score_malignant"} <= set(rows[0])
        metrics = client.get("/v1/metrics").json()
        assert metrics["items_by_status"]["succeeded"] == 20
        assert metrics["latency_ms"]["total"]["p95"] is not None
        assert metrics["items_by_model"][0]["items"] == 20


def test_the_worker_runs_below_the_gateway(real_stack: Stack) -> None:
    assert real_stack.gateway is not None
    gateway = os.getpriority(os.PRIO_PROCESS, real_stack.gateway.pid)
    worker = os.getpriority(os.PRIO_PROCESS, real_stack.workers[0].pid)
    assert worker == min(gateway + Settings().worker_nice, 19) > gateway


def test_predict_answers_synchronously(real_stack: Stack) -> None:
    with httpx.Client(base_url=real_stack.url, timeout=60) as client:
        response = client.post("/predict", files={"file": ("one.png", tile_bytes(7))})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] in {"benign", "malignant"}
        assert body["latency_ms"] > 0
        assert 0.0 <= body["probability"] <= 1.0
        assert set(body["scores"]) == {"benign", "malignant"}
        assert body["model_name"] and body["model_id"] is not None and body["batch_size"] >= 1
        job = client.get(f"/v1/jobs/{body['job_id']}").json()
        assert job["status"] == "succeeded"
        refused = client.post("/predict", files={"file": ("x.png", b"plain text")})
        assert refused.status_code == 415
        # A PNG whose header passes the intake but whose pixels do not decode fails in the
        # worker: the caller hears why, as a 422.
        broken = client.post("/predict", files={"file": ("cut.png", tile_bytes(8)[:120])})
        assert broken.status_code == 422, broken.text
        assert broken.json()["detail"].startswith("invalid image")


def test_a_waiting_listing_answers_when_the_workers_finish(real_stack: Stack) -> None:
    with httpx.Client(base_url=real_stack.url, timeout=60) as client:
        warm = client.post("/v1/jobs", files=[("files", ("w.png", tile_bytes(1)))]).json()
        wait_for_job(client, warm["job_id"])  # the worker has its model
        ids = [
            client.post(
                "/v1/jobs",
                files=[("files", (f"{i}.png", tile_bytes(100 * n + i))) for i in range(8)],
            ).json()["job_id"]
            for n in range(2)
        ]
        started = time.monotonic()
        finished: dict[str, dict] = {}  # type: ignore[type-arg]
        while len(finished) < len(ids):  # the client's loop: drop the final, wait again
            assert time.monotonic() - started < 90
            left = ",".join(job_id for job_id in ids if job_id not in finished)
            answer = client.get("/v1/jobs", params={"ids": left, "wait_seconds": 30})
            assert answer.status_code == 200, answer.text
            finished.update(
                (job["job_id"], job) for job in answer.json()["jobs"] if job["status"] in FINAL
            )
        waited = time.monotonic() - started
    assert all(
        job["status"] == "succeeded" and job["counts"]["succeeded"] == 8
        for job in finished.values()
    )
    # With Redis the listing reads only when a completion names its jobs: without the
    # workers' signal each call would have answered at its 30 s deadline.
    assert waited < 20


# A worker killed mid-job: tests/faults/test_workers.py::test_kill_9_mid_batch_loses_nothing.
