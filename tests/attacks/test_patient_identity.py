"""Patient identities that try to split, pool or invent patients: many spellings of one ID,
invisible IDs, a log file named as a patient, and summary parameters out of range."""

from __future__ import annotations

import csv
import io
from itertools import product

from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

#: 32 spellings of one patient: every case of `case` with and without a zero-width space.
SPELLINGS = [
    "".join(letters) + "01" + tail
    for letters, tail in product(product(*(c + c.upper() for c in "case")), ("", "\u200b"))
]


def manifest(rows: list[tuple[str, str]]) -> bytes:
    """Return a filename,patient_id manifest."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "patient_id"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_spellings_invisible_ids_and_logs_form_no_false_patients(target: Target) -> None:
    names = [f"t{i:02d}.png" for i in range(40)]
    rows = [(name, SPELLINGS[i % len(SPELLINGS)]) for i, name in enumerate(names)]
    rows += [("blank.png", "\u200b\u2060"), ("scan.log", "scan")]
    files = [("files", (n, tile_bytes(700 + i), "image/png")) for i, n in enumerate(names)]
    files += [("files", ("blank.png", tile_bytes(790), "image/png"))]
    files += [("files", ("scan.log", b"12:00 scanner started\n", "text/plain"))]
    files += [("manifest", ("m.csv", manifest(rows), "text/csv"))]
    healthz_before = target.healthz_seconds()
    with target.client() as client:
        created = client.post("/v1/jobs", files=files)
        assert created.status_code == 202, created.text
        summary = client.get(created.json()["links"]["summary"]).json()
    patients = {group["patient_id"]: group for group in summary["patients"]}
    assert set(patients) == {"case01", None}  # one patient; no `scan`, no invisible one
    case = patients["case01"]
    assert case["n_images"] == 40 and len(case["patient_spellings"]) == 20  # shown, capped
    assert (case["status"], case["call"]) == ("incomplete", None)  # no worker: nothing read
    assert (patients[None]["status"], patients[None]["call"]) == ("unassigned", None)
    assert summary["unassigned_files"] == ["blank.png"]
    assert (summary["n_not_images"], summary["not_images"]) == (1, ["scan.log"])
    assert target.healthz_seconds() < max(1.0, 10 * healthz_before)


def test_summary_parameters_out_of_range_are_refused(target: Target) -> None:
    with target.client() as client:
        created = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(800)))])
        summary_url = created.json()["links"]["summary"]
        stored, blobs = count_rows(target.database_url), target.blob_count()
        for name, value in [
            ("min_tiles", 0),
            ("min_tiles", "two"),
            ("tile_threshold", 1.5),
            ("min_fraction", -0.1),
            ("min_coverage", 2),
        ]:
            response = client.get(summary_url, params={name: value})
            assert response.status_code == 422, (name, response.text)
            assert name in response.json()["detail"]
    assert count_rows(target.database_url) == stored and target.blob_count() == blobs
