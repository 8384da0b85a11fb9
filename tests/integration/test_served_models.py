"""The served model and the workers as facts in the database, on real processes: a gateway
with no model files names the workers' model; a broken model never takes a task; a moved
registry alias switches a running worker with no item lost or run twice."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from cli.stack import Stack, free_port
from core.model_card import SMOKE_FILE, ModelCard
from db.models import Item, ItemStatus, Result, ServedModel, Worker
from db.session import get_session
from tests.integration.conftest import (
    gateway_and_worker,
    stack_environment,
    tile_bytes,
    wait_for_job,
)
from training.tracking import client_for, register_model_dir

pytestmark = pytest.mark.services


def positive_copy(model_dir: Path, target: Path, version: str) -> Path:
    """Copy the test model with a card that calls `malignant` at 0.2, as version `version`."""
    shutil.copytree(model_dir, target)
    card = ModelCard.read(target).model_copy(
        update={"version": version, "positive_class": "malignant", "threshold": 0.2}
    )
    card.write(target)
    return target


def test_gateway_without_model_files_names_the_workers_model(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    served = positive_copy(model_dir, tmp_path / "model", "v-positive")
    env = stack_environment(tmp_path, postgres_url, redis_url, served)
    env["INFERQ_MODEL_URI"] = str(tmp_path / "nothing-here")  # only the worker gets the model
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    stack.start_worker(
        INFERQ_MODEL_URI=str(served), INFERQ_LOG_JSON="true", INFERQ_LOG_PREDICTIONS="true"
    )
    try:
        stack.wait_ready()
        stack.wait_workers_ready()
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            card = client.get("/v1/model").json()
            assert (card["version"], card["positive_class"], card["threshold"]) == (
                "v-positive",
                "malignant",
                0.2,
            )
            assert card["live_workers"] == 1
            assert client.get("/readyz").json()["workers"]["ready"] == 1
            manifest = "filename,patient_id\n" + "".join(f"t{i}.png,P1\n" for i in range(7))
            files = [("files", (f"t{i}.png", tile_bytes(i))) for i in range(7)]
            files.append(("manifest", ("m.csv", manifest.encode())))
            job = client.post("/v1/jobs", files=files).json()
            wait_for_job(client, job["job_id"])
            summary = client.get(f"/v1/jobs/{job['job_id']}/summary").json()
            assert summary["rule"]["positive_class"] == "malignant"
            assert [m["model_id"] for m in summary["models"]] == [card["id"]]
            results = client.get(f"/v1/jobs/{job['job_id']}/results").json()["items"]
            assert {r["model_id"] for r in results} == {card["id"]}
        metrics = httpx.get(stack.worker_health[0] + "metrics", timeout=10).text
        assert 'inferq_worker_batch_size_bucket{le="8.0"}' in metrics
        assert "inferq_worker_batch_size_sum 7.0" in metrics
        assert f'model_id="{card["id"]}"' in metrics and 'version="v-positive"' in metrics
    finally:
        stack.stop()
    lines = [line for line in (tmp_path / "worker-0.log").read_text().splitlines() if line]
    assert [line for line in lines if not line.startswith("{")] == []  # no banner, no noise
    records = [json.loads(line) for line in lines]
    predictions = [r for r in records if r.get("message") == "prediction"]
    assert sorted(r["item_id"] for r in predictions) == sorted(r["item_id"] for r in results)
    assert {(r["job_id"], r["model_version"]) for r in predictions} == {
        (job["job_id"], "v-positive")
    }


def test_worker_with_a_broken_model_never_takes_a_task(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.keras").write_bytes(b"not a keras file")
    env = stack_environment(tmp_path, postgres_url, redis_url, broken)
    with (
        gateway_and_worker(env, tmp_path) as stack,
        httpx.Client(base_url=stack.url, timeout=30) as client,
    ):
        job = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(1)))]).json()
        assert stack.workers[0].wait(120) == 3  # EXIT_MODEL_UNUSABLE
        ready = client.get("/readyz").json()
        assert ready["status"] == "ok" and ready["workers"]["ready"] == 0
        assert client.get("/v1/model").status_code == 404
        assert client.get(f"/v1/jobs/{job['job_id']}").json()["status"] == "queued"
    with get_session(postgres_url) as session:
        item = session.scalars(select(Item)).one()
        assert (item.status, item.attempts) == (ItemStatus.QUEUED, 0)
        worker = session.scalars(select(Worker)).one()
        assert worker.state == "failed" and worker.error
    assert "model unusable, worker exits" in (tmp_path / "worker-0.log").read_text()


@pytest.fixture
def registry(tmp_path: Path, model_dir: Path) -> Iterator[tuple[str, object]]:
    """A local MLflow registry with the test model as inferq-test@champion (version 1)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = client.create_experiment("inferq", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment).info.run_id
    register_model_dir(client, run, model_dir, name="inferq-test", alias="champion", tags={})
    yield (
        uri,
        lambda directory: register_model_dir(
            client, run, directory, name="inferq-test", alias="champion", tags={}
        ),
    )


def submit_stream(client: httpx.Client, count: int, pause: float) -> list[str]:
    """Submit `count` one-image jobs, `pause` seconds apart; return their IDs."""
    ids = []
    for index in range(count):
        files = [("files", (f"s{index}.png", tile_bytes(index)))]
        ids.append(client.post("/v1/jobs", files=files).json()["job_id"])
        time.sleep(pause)
    return ids


def registered_versions(database_url: str) -> dict[str, int]:
    """Return how many results each registry version of the model produced."""
    with get_session(database_url) as session:
        statement = (
            select(ServedModel.registered_version, func.count())
            .join(Result, Result.model_id == ServedModel.id)
            .group_by(ServedModel.registered_version)
        )
        return {str(version): count for version, count in session.execute(statement)}


def test_moved_alias_switches_a_running_worker_and_a_bad_version_is_refused(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    model_dir: Path,
    registry: tuple[str, object],
) -> None:
    uri, register = registry
    env = stack_environment(tmp_path, postgres_url, redis_url, model_dir)
    env.update(
        INFERQ_MODEL_URI="models:/inferq-test@champion",
        INFERQ_MLFLOW_TRACKING_URI=uri,
        INFERQ_MODEL_POLL_SECONDS="1",
    )
    with (
        gateway_and_worker(env, tmp_path, workers_ready=True) as stack,
        httpx.Client(base_url=stack.url, timeout=30) as client,
    ):
        assert client.get("/v1/model").json()["registered_version"] == "1"
        jobs = submit_stream(client, 10, 0.1)
        register(positive_copy(model_dir, tmp_path / "v2", "second"))  # type: ignore[operator]
        jobs += submit_stream(client, 40, 0.15)  # the poll (1 s) and the load happen here
        for job_id in jobs:
            wait_for_job(client, job_id)
        card = client.get("/v1/model").json()
        assert (card["registered_version"], card["version"]) == ("2", "second")
        bad = shutil.copytree(tmp_path / "v2", tmp_path / "v3")
        with np.load(bad / SMOKE_FILE) as stored:  # weights that are not the exported ones
            np.savez(bad / SMOKE_FILE, tiles=stored["tiles"], outputs=1 - stored["outputs"])
        register(bad)  # type: ignore[operator]
        time.sleep(4)
        later = submit_stream(client, 5, 0.1)
        for job_id in later:
            wait_for_job(client, job_id)
        assert client.get("/v1/model").json()["registered_version"] == "2"
    versions = registered_versions(postgres_url)
    assert set(versions) == {"1", "2"} and versions["2"] >= 5
    with get_session(postgres_url) as session:
        items = session.scalar(select(func.count()).select_from(Item))
        succeeded = session.scalar(
            select(func.count()).select_from(Item).where(Item.status == ItemStatus.SUCCEEDED)
        )
        results = session.scalar(select(func.count()).select_from(Result))
    assert items == succeeded == results == 55
    log = (tmp_path / "worker-0.log").read_text()
    assert "refused model" in log and "differ from those recorded" in log
