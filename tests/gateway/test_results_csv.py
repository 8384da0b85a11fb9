"""Results: CSV scores in the card's class order, manifest extras as columns, batch times."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi.testclient import TestClient

from core.settings import Settings
from db.claims import Outcome, claim_items, record_results
from db.models import Item
from db.served import record_model
from db.session import get_session
from tests.gateway.conftest import png_bytes

CLASSES = ["normal", "malignant", "benign"]  # the model's output order, not alphabetical
MANIFEST = (
    b"filename,label,patient_id,stain,scanner,status\n"
    b"a.png,benign,P1,HE,S360,archived\nb.png,malignant,P2,IHC,,\n"
)


def served_model(settings: Settings) -> int:
    """Record a served model whose card lists the classes out of alphabetical order."""
    card = {"name": "m", "version": "1", "class_names": CLASSES, "input_size": [96, 96]}
    row = {"fingerprint": "fp-order", "name": "m", "version": "1", "runtime": "tensorflow"}
    with get_session(settings.resolved_database_url) as session:
        return record_model({**row, "card": card}, session=session)


def classify(settings: Settings, job_id: str, model_id: int) -> None:
    """Claim the job's items and write a result for each, as a worker would."""
    with get_session(settings.resolved_database_url) as session:
        ids = [i.id for i in session.query(Item).filter_by(job_id=uuid.UUID(job_id))]
        claimed = claim_items(ids, session=session, worker_id="w", lease_seconds=60, max_attempts=3)
        scores = {"normal": 0.1, "malignant": 0.2, "benign": 0.7}
        outcomes = [Outcome(c, "benign", 0.7, scores, 1.5, 3.0, len(claimed)) for c in claimed]
        record_results(
            outcomes,
            session=session,
            worker_id="w",
            model_name="m",
            model_version="1",
            model_id=model_id,
        )


def test_csv_follows_the_card_class_order_and_keeps_manifest_columns(
    client: TestClient, settings: Settings
) -> None:
    files = [("files", ("a.png", png_bytes(1))), ("files", ("b.png", png_bytes(2)))]
    body = client.post("/v1/jobs", files=[*files, ("manifest", ("m.csv", MANIFEST))]).json()
    classify(settings, body["job_id"], served_model(settings))
    text = client.get(f"/v1/jobs/{body['job_id']}/results", params={"format": "csv"}).text
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    scores = [name for name in header if name.startswith("score_")]
    assert scores == ["score_normal", "score_malignant", "score_benign"]
    assert header[-3:] == ["stain", "scanner", "attribute_status"]  # clash: prefixed
    rows = {row["filename"]: row for row in reader}
    assert (rows["a.png"]["stain"], rows["a.png"]["scanner"]) == ("HE", "S360")
    assert rows["a.png"]["attribute_status"] == "archived"
    assert rows["a.png"]["status"] == "succeeded"
    assert (rows["b.png"]["stain"], rows["b.png"]["scanner"]) == ("IHC", "")
    assert rows["b.png"]["score_benign"] == "0.7"


def test_an_items_inference_latency_is_its_share_of_the_batch(
    client: TestClient, settings: Settings
) -> None:
    files = [("files", ("a.png", png_bytes(1))), ("files", ("b.png", png_bytes(2)))]
    job_id = client.post("/v1/jobs", files=files).json()["job_id"]
    classify(settings, job_id, served_model(settings))
    items = client.get(f"/v1/jobs/{job_id}/results").json()["items"]
    for item in items:
        latency = item["latency_ms"]
        assert (latency["inference"], latency["batch"], item["batch_size"]) == (1.5, 3.0, 2)
    text = client.get(f"/v1/jobs/{job_id}/results", params={"format": "csv"}).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["inference_ms"], row["batch_ms"], row["batch_size"]) == ("1.5", "3.0", "2")
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Latency"]
    assert "batch_size" in schema["properties"]["inference"]["description"]
