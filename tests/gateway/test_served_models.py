"""GET /v1/model(s), /v1/workers, /readyz's workers and the summary's per-model rules, all
read from the rows workers write (written here as a worker would)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from core.model_card import ModelCard, Preprocessing
from core.settings import Settings
from db.models import Worker, WorkerState, utc_now
from db.served import record_model
from db.session import get_session
from db.workers import Heartbeat, record_heartbeat
from tests.gateway.conftest import api_client, limited_settings, png_bytes
from tests.gateway.test_summary import MALIGNANT, MANIFEST, classify


def add_model(settings: Settings, version: str, threshold: float) -> int:
    """Record a served model whose card calls malignant at `threshold`; return its row."""
    card = ModelCard(
        name="m",
        version=version,
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
        threshold=threshold,
        positive_class="malignant",
        metrics={"test_accuracy": 0.9},
    )
    row = {
        "fingerprint": f"fp-{version}",
        "name": "m",
        "version": version,
        "registered_name": "m",
        "registered_version": version,
        "run_id": "run",
        "data_hash": "0" * 64,
        "runtime": "tensorflow",
        "card": card.model_dump(mode="json"),
    }
    with get_session(settings.resolved_database_url) as session:
        return record_model(row, session=session)


def beat(settings: Settings, worker_id: str, model_id: int | None, state: WorkerState) -> None:
    """Record a worker's heartbeat now."""
    heartbeat = Heartbeat(worker_id, "host-a", 42, state, model_id, batches=3, items=24)
    with get_session(settings.resolved_database_url) as session:
        record_heartbeat(heartbeat, started=True, session=session)


def test_model_is_what_live_ready_workers_serve(client: TestClient, settings: Settings) -> None:
    assert client.get("/v1/model").status_code == 404  # no worker yet
    assert client.get("/readyz").json()["workers"]["ready"] == 0
    first, second = add_model(settings, "1", 0.8), add_model(settings, "2", 0.3)
    assert add_model(settings, "1", 0.8) == first  # the same model is recorded once
    beat(settings, "w1", first, WorkerState.READY)
    beat(settings, "w2", second, WorkerState.LOADING)
    card = client.get("/v1/model").json()
    assert (card["id"], card["version"], card["threshold"], card["live_workers"]) == (
        first,
        "1",
        0.8,
        1,
    )
    assert card["registered_version"] == "1" and card["metrics"] == {"test_accuracy": 0.9}
    listed = client.get("/v1/models").json()
    assert [(m["id"], m["live_workers"]) for m in listed] == [(second, 0), (first, 1)]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["workers"]["ready"] == 1
    with get_session(settings.resolved_database_url) as session:  # w1 falls silent
        stale = utc_now() - timedelta(seconds=settings.worker_stale_seconds + 1)
        session.execute(update(Worker).where(Worker.id == "w1").values(last_seen_at=stale))
    assert client.get("/v1/model").status_code == 404
    assert client.get("/readyz").json()["workers"]["ready"] == 0


def test_summary_counts_each_result_by_its_own_models_rule(
    client: TestClient, settings: Settings
) -> None:
    strict, lenient = add_model(settings, "1", 0.8), add_model(settings, "2", 0.15)
    files = [("files", (name, png_bytes(i))) for i, name in enumerate([*MALIGNANT, "p2b.png"])]
    body = client.post("/v1/jobs", files=[*files, ("manifest", ("m.csv", MANIFEST))]).json()
    # P1's tiles: p1a (0.9) by the strict model; p1b (0.2) and p1c (0.3) by the lenient one.
    models = {"p1a.png": strict, "p1b.png": lenient, "p1c.png": lenient, "p2a.png": strict}
    classify(settings.resolved_database_url, body["job_id"], models)
    summary = client.get(f"/v1/jobs/{body['job_id']}/summary").json()
    used = {m["model_id"]: (m["results"], m["threshold"]) for m in summary["models"]}
    assert used == {strict: (2, 0.8), lenient: (2, 0.15), None: (1, 0.5)}
    assert summary["rule"]["positive_class"] == "malignant"  # from the cards, not a default
    patients = {p["patient_id"]: p for p in summary["patients"]}
    assert patients["p1"]["positive_tiles"] == 3 and patients["p1"]["call"] == "malignant"
    assert patients["p1"]["model_ids"] == [strict, lenient]  # the cards its call counts
    assert patients["p2"]["positive_tiles"] == 0 and patients["p2"]["status"] == "incomplete"


def test_summary_of_a_job_without_results_uses_the_served_models_card(
    client: TestClient, settings: Settings
) -> None:
    beat(settings, "w1", add_model(settings, "1", 0.8), WorkerState.READY)
    body = client.post("/v1/jobs", files=[("files", ("a.png", png_bytes(1)))]).json()
    rule = client.get(f"/v1/jobs/{body['job_id']}/summary").json()["rule"]
    assert (rule["threshold"], rule["positive_class"]) == (0.8, "malignant")


@pytest.mark.parametrize("operator", [True, False])
def test_workers_are_an_operator_view(tmp_path: Path, sqlite_url: str, operator: bool) -> None:
    settings = limited_settings(tmp_path, sqlite_url).model_copy(
        update={"auth_enabled": True, "operator_tenants": "ops" if operator else ""}
    )
    beat(settings, "w1", add_model(settings, "1", 0.5), WorkerState.READY)
    beat(settings, "w2", None, WorkerState.FAILED)
    with api_client(settings, tenant="ops") as client:
        response = client.get("/v1/workers")
        if not operator:
            assert response.status_code == 403 and "operator" in response.json()["detail"]
            return
        workers = {w["id"]: w for w in response.json()}
        assert workers["w1"]["state"] == "ready" and workers["w1"]["live"] is True
        assert (workers["w1"]["model_name"], workers["w1"]["items"]) == ("m", 24)
        assert workers["w2"]["state"] == "failed" and workers["w2"]["model_id"] is None
