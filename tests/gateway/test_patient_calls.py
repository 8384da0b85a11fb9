"""The per-patient call of GET /v1/jobs/{id}/summary on the cases a pathologist must trust:
a focal tumour, a patient with too few readable images, images without a patient, two
spellings of one patient and a file that is not an image."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from client.manifest import names_manifest
from core.model_card import ModelCard, PatientRule, Preprocessing
from core.settings import Settings
from db.claims import Outcome, claim_items, fail_items, record_results
from db.models import Item
from db.served import record_model
from db.session import get_session
from tests.gateway.conftest import png_bytes


def add_card(settings: Settings, version: str, rule: PatientRule | None = None) -> int:
    """Record a served model calling malignant at 0.5 (and its patient rule, if given)."""
    card = ModelCard(
        name="m",
        version=version,
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
        positive_class="malignant",
        **({"patient_rule": rule} if rule else {}),
    )
    row = {
        "fingerprint": f"fp-{version}",
        "name": "m",
        "version": version,
        "runtime": "tensorflow",
        "card": card.model_dump(mode="json"),
    }
    with get_session(settings.resolved_database_url) as session:
        return record_model(row, session=session)


def submit(client: TestClient, names: list[str], manifest: bytes | None) -> str:
    """Submit one distinct PNG per name (and the manifest); return the job ID."""
    files: list[tuple[str, Any]] = [
        ("files", (name, png_bytes(i) if name.endswith(".png") else b"scanner log\n"))
        for i, name in enumerate(names)
    ]
    if manifest is not None:
        files.append(("manifest", ("m.csv", manifest)))
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def classify(
    settings: Settings, job_id: str, malignant: dict[str, float], model_id: int | None = None
) -> None:
    """Write a result per named file (its malignant score); fail every other queued item."""
    with get_session(settings.resolved_database_url) as session:
        items = session.query(Item).filter_by(job_id=uuid.UUID(job_id), status="queued").all()
        claimed = claim_items(
            [i.id for i in items], session=session, worker_id="w", lease_seconds=60, max_attempts=3
        )
        names = {i.id: i.filename for i in items}
        outcomes = [
            Outcome(c, "malignant" if p >= 0.5 else "benign", max(p, 1 - p), scores, 3.0)
            for c in claimed
            if (p := malignant.get(names[c.id])) is not None
            and (scores := {"benign": 1 - p, "malignant": p})
        ]
        record_results(
            outcomes,
            session=session,
            worker_id="w",
            model_name="m",
            model_version="1",
            model_id=model_id,
        )
        unread = {c.id: "invalid image: corrupt" for c in claimed if names[c.id] not in malignant}
        fail_items(unread, session=session)


def summary(client: TestClient, job_id: str, **params: Any) -> dict[str, Any]:
    """Return the job's summary as JSON."""
    response = client.get(f"/v1/jobs/{job_id}/summary", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def patient_manifest(rows: dict[str, str]) -> bytes:
    """Return a manifest giving each file name its patient ID."""
    lines = ["filename,patient_id", *(f"{name},{patient}" for name, patient in rows.items())]
    return ("\n".join(lines) + "\n").encode()


def test_a_focal_tumour_is_not_called_benign_by_default(
    client: TestClient, settings: Settings
) -> None:
    model_id = add_card(settings, "1")  # a card without patient_rule: the defaults
    names = [f"t{i:03d}.png" for i in range(100)]
    job_id = submit(client, names, patient_manifest(dict.fromkeys(names, "P1")))
    scores = {name: 0.995 if i < 9 else 0.02 for i, name in enumerate(names)}
    classify(settings, job_id, scores, model_id)
    patient = summary(client, job_id)["patients"][0]
    # 9 % of the tiles, each at p >= 0.99: under the old 10 % rule this patient was benign.
    assert (patient["positive_tiles"], patient["strong_tiles"]) == (9, 9)
    assert (patient["status"], patient["call"]) == ("called", "malignant")
    assert patient["model_ids"] == [model_id]
    # The card's own patient rule decides when it sets one; a request overrides both.
    strict = add_card(settings, "2", PatientRule(min_tiles=10, min_fraction=0.5))
    job_two = submit(client, names, patient_manifest(dict.fromkeys(names, "P1")))
    classify(settings, job_two, scores, strict)
    body = summary(client, job_two)
    assert (body["rule"]["min_tiles"], body["patients"][0]["call"]) == (10, "benign")
    assert summary(client, job_two, min_tiles=9)["patients"][0]["call"] == "malignant"


def test_a_patient_with_one_readable_image_of_ten_gets_no_call(
    client: TestClient, settings: Settings
) -> None:
    names = [f"x{i}.png" for i in range(10)]
    job_id = submit(client, names, patient_manifest(dict.fromkeys(names, "P7")))
    classify(settings, job_id, {"x0.png": 0.97})  # the nine others fail
    body = summary(client, job_id, positive_class="malignant")
    assert body["final"] is True
    patient = body["patients"][0]
    assert (patient["n_images"], patient["n_failed"], patient["coverage"]) == (10, 9, 0.1)
    assert (patient["status"], patient["call"]) == ("incomplete", None)
    lenient = summary(client, job_id, positive_class="malignant", min_coverage=0.1)
    assert lenient["patients"][0]["status"] == "called"  # the floor is a parameter


def test_images_without_a_patient_are_listed_never_called(
    client: TestClient, settings: Settings
) -> None:
    names = ["a.png", "b.png", "c.png", "d.png"]
    job_id = submit(client, names, patient_manifest({"a.png": "P1", "b.png": "  "}))
    classify(settings, job_id, dict.fromkeys(names, 0.99))
    body = summary(client, job_id, positive_class="malignant")
    patients = {p["patient_id"]: p for p in body["patients"]}
    assert set(patients) == {"p1", None}
    assert (patients[None]["status"], patients[None]["call"]) == ("unassigned", None)
    assert patients[None]["n_images"] == 3 and patients[None]["patient_spellings"] == []
    assert body["unassigned_files"] == ["b.png", "c.png", "d.png"]


def test_spellings_of_one_patient_are_one_patient(client: TestClient, settings: Settings) -> None:
    rows = {"a.png": "CASE01", "b.png": "case01", "c.png": " Case01\u200b", "d.png": "Jose\u0301"}
    rows["e.png"] = "JOS\u00c9"
    job_id = submit(client, list(rows), patient_manifest(rows))
    classify(settings, job_id, dict.fromkeys(rows, 0.1))
    body = summary(client, job_id, positive_class="malignant")
    patients = {p["patient_id"]: p for p in body["patients"]}
    assert set(patients) == {"case01", "jos\u00e9"}
    assert patients["case01"]["n_images"] == 3
    spellings = ["CASE01", "Case01\u200b", "case01"]  # as stored (the manifest trims cells)
    assert patients["case01"]["patient_spellings"] == spellings
    assert patients["jos\u00e9"]["n_images"] == 2 and patients["jos\u00e9"]["status"] == "called"


def test_a_file_that_is_not_an_image_never_becomes_a_patient(
    client: TestClient, settings: Settings
) -> None:
    names = ["scan.log", "P1_0001.png", "P1_0002.png"]
    assert b"scan.log,\n" in names_manifest(names)  # the client names no patient for it
    manifest = patient_manifest({"scan.log": "scan", "P1_0001.png": "P1", "P1_0002.png": "P1"})
    job_id = submit(client, names, manifest)
    classify(settings, job_id, {"P1_0001.png": 0.1, "P1_0002.png": 0.2})
    body = summary(client, job_id, positive_class="malignant")
    assert [p["patient_id"] for p in body["patients"]] == ["p1"]
    assert body["patients"][0]["status"] == "called"  # the log does not lower its coverage
    assert (body["n_not_images"], body["not_images"]) == (1, ["scan.log"])
    assert body["unassigned_files"] == []
