"""GET /v1/jobs/{id}/summary and GET /v1/model, with results written as a worker would."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from db.claims import Outcome, claim_items, fail_items, record_results
from db.models import Item
from db.session import get_session
from tests.gateway.conftest import png_bytes

MANIFEST = (
    b"filename,label,patient_id,slide_id\n"
    b"p1a.png,malignant,P1,S1\np1b.png,malignant,P1,S2\np1c.png,malignant,P1,S2\n"
    b"p2a.png,benign,P2,\np2b.png,benign,P2,\n"
)
#: Malignant probability of each tile; p2b's image is refused as corrupt by the "worker".
MALIGNANT = {"p1a.png": 0.9, "p1b.png": 0.2, "p1c.png": 0.3, "p2a.png": 0.05, "p3.png": 0.7}


def classify(url: str, job_id: str, models: dict[str, int] | None = None) -> None:
    """Claim the job's items and write results (and one failure) like a worker.

    `models` names the model row that produced each file's result (none by default).
    """
    with get_session(url) as session:
        items = {i.filename: i.id for i in session.query(Item).filter_by(job_id=uuid.UUID(job_id))}
        claimed = claim_items(
            list(items.values()), session=session, worker_id="w", lease_seconds=60, max_attempts=3
        )
        by_id = {c.id: c for c in claimed}
        for name, p in MALIGNANT.items():
            label = "malignant" if p >= 0.5 else "benign"
            scores = {"benign": 1 - p, "malignant": p}
            outcome = Outcome(by_id[items[name]], label, max(p, 1 - p), scores, 3.0)
            model_id = (models or {}).get(name)
            record_results(
                [outcome],
                session=session,
                worker_id="w",
                model_name="m",
                model_version=str(model_id or 1),
                model_id=model_id,
            )
        fail_items({items["p2b.png"]: "invalid image: corrupt"}, session=session)


@pytest.fixture
def job_id(client: TestClient, settings: Settings) -> str:
    names = [*MALIGNANT, "p2b.png"]
    files = [("files", (name, png_bytes(i))) for i, name in enumerate(names)]
    body = client.post("/v1/jobs", files=[*files, ("manifest", ("m.csv", MANIFEST))]).json()
    classify(settings.resolved_database_url, body["job_id"])
    return str(body["job_id"])


def test_summary_groups_by_patient_and_slide_with_a_documented_call(
    client: TestClient, job_id: str
) -> None:
    summary = client.get(
        f"/v1/jobs/{job_id}/summary", params={"positive_class": "malignant"}
    ).json()
    assert summary["final"] is True and summary["classes"] == ["benign", "malignant"]
    assert "at least 2 of its tiles score >= 0.9" in summary["rule"]["description"]
    assert "at least 0.05 of its classified tiles" in summary["rule"]["description"]
    patients = {p["patient_id"]: p for p in summary["patients"]}
    assert list(patients) == ["p1", "p2", None]  # normalised IDs; unassigned last
    p1 = patients["p1"]
    assert p1["patient_spellings"] == ["P1"]
    assert (p1["n_images"], p1["n_classified"], p1["positive_tiles"]) == (3, 3, 1)
    assert (p1["status"], p1["coverage"], p1["strong_tiles"]) == ("called", 1.0, 1)
    assert p1["label_counts"] == {"benign": 2, "malignant": 1}
    assert p1["mean_probability"]["malignant"] == pytest.approx((0.9 + 0.2 + 0.3) / 3)
    assert p1["max_probability"]["malignant"] == pytest.approx(0.9)
    assert p1["call"] == "malignant"  # one tile of three reaches 0.5: at least 5 %
    p2 = patients["P2".lower()]
    assert (p2["n_images"], p2["n_failed"], p2["coverage"]) == (2, 1, 0.5)
    assert (p2["status"], p2["call"]) == ("incomplete", None)  # half its images failed
    unassigned = patients[None]  # p3.png has no manifest row
    assert (unassigned["status"], unassigned["call"]) == ("unassigned", None)
    assert summary["unassigned_files"] == ["p3.png"]
    slides = [(s["patient_id"], s["slide_id"], s["n_images"], s["call"]) for s in summary["slides"]]
    assert slides == [("p1", "S1", 1, "malignant"), ("p1", "S2", 2, "benign")]


def test_summary_rule_parameters_and_csv(client: TestClient, job_id: str) -> None:
    params = {"positive_class": "malignant", "min_fraction": 0.5, "min_tiles": 5}
    strict = client.get(f"/v1/jobs/{job_id}/summary", params=params).json()
    assert strict["patients"][0]["call"] == "benign"  # 1 of 3 tiles: under half, under 5
    assert strict["rule"]["min_tiles"] == 5 and strict["rule"]["min_fraction"] == 0.5
    majority = client.get(f"/v1/jobs/{job_id}/summary").json()  # no card: most frequent label
    assert majority["rule"]["positive_class"] is None
    assert majority["patients"][0]["call"] == "benign"
    response = client.get(f"/v1/jobs/{job_id}/summary", params={**params, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["level"], r["patient_id"], r["status"], r["call"]) for r in rows][:2] == [
        ("patient", "p1", "called", "benign"),
        ("patient", "p2", "incomplete", ""),
    ]
    assert rows[0]["count_benign"] == "2" and float(rows[0]["max_malignant"]) == 0.9
    wrong = client.get(f"/v1/jobs/{job_id}/summary", params={"positive_class": "cat"})
    assert wrong.status_code == 422 and "benign, malignant" in wrong.json()["detail"]
    missing = client.get("/v1/jobs/00000000-0000-4000-8000-000000000000/summary")
    assert missing.status_code == 404


def test_openapi_documents_the_new_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"202", "404", "409", "413", "415", "422"} <= set(
        paths["/v1/jobs/{job_id}/items"]["post"]["responses"]
    )
    assert "404" in paths["/v1/jobs/{job_id}/close"]["post"]["responses"]
    assert "text/csv" in paths["/v1/jobs/{job_id}/summary"]["get"]["responses"]["200"]["content"]
    assert "404" in paths["/v1/model"]["get"]["responses"]
    assert "403" in paths["/v1/workers"]["get"]["responses"]
    create = paths["/v1/jobs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
