"""Archived folders, manifests and malicious archives on the real stack."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from tests.archives import Malicious, malicious_corpus, tar_bytes, zip_bytes
from tests.integration.bulk.conftest import SHARED_LIMITS, SharedStack
from tests.integration.conftest import tile_bytes, wait_for_job

MAX_MEMBERS = int(SHARED_LIMITS["INFERQ_MAX_ARCHIVE_MEMBERS"])


def folder(prefix: str) -> dict[str, bytes]:
    """A scanner folder: two patients on three slides, clutter, and a note."""
    members = {
        f"{prefix}/slide{s}/P{p}_{t:04d}.png": tile_bytes(100 * s + t, size=32)
        for s, p in ((1, "A"), (2, "A"), (3, "B"))
        for t in range(4)
    }
    members |= {f"{prefix}/.DS_Store": b"\0\1", f"__MACOSX/{prefix}/._x.png": b"x"}
    return members | {f"{prefix}/notes.txt": b"scanner log"}


def manifest(prefix: str) -> bytes:
    rows = ["filename,label,patient_id,slide_id"]
    for s, p in ((1, "A"), (2, "A"), (3, "B")):
        rows += [f"{prefix}/slide{s}/P{p}_{t:04d}.png,x,P{p},S{s}" for t in range(4)]
    rows += ["nowhere.png,x,PZ,", "broken-row"]
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archived_folder_with_a_manifest_round_trips(
    shared_stack: SharedStack, kind: str
) -> None:
    members = folder(kind)
    data = zip_bytes(members) if kind == "zip" else tar_bytes(members, gz=True)
    files = [("files", (f"scan.{kind}", data)), ("manifest", ("manifest.csv", manifest(kind)))]
    with httpx.Client(base_url=shared_stack.url, timeout=60) as client:
        body = client.post("/v1/jobs", files=files).json()
        assert (body["n_items"], body["n_rejected"], body["n_skipped"]) == (12, 1, 2)
        assert body["manifest"]["unmatched"] == ["nowhere.png"]
        assert body["manifest"]["errors"][0]["line"] == 15
        job = wait_for_job(client, body["job_id"])
        assert job["status"] == "partially_failed" and job["counts"]["succeeded"] == 12
        rows = list(csv.DictReader(io.StringIO(client.get(body["links"]["csv"]).text)))
        assert {r["filename"] for r in rows if r["status"] == "succeeded"} == {
            name
            for name in members
            if name.endswith(".png") and "/." not in name and "MACOSX" not in name
        }
        summary = client.get(body["links"]["summary"], params={"format": "csv"}).text
    table = list(csv.DictReader(io.StringIO(summary)))
    patients = {(r["level"], r["patient_id"], r["slide_id"]): r for r in table}
    assert patients[("patient", "pa", "")]["n_images"] == "8"  # normalised patient IDs
    assert patients[("patient", "pb", "")]["n_classified"] == "4"
    assert patients[("patient", "pa", "")]["patient_spellings"] == "PA"
    assert ("patient", "", "") not in patients  # the note is no image: it forms no group
    assert {k for k in patients if k[0] == "slide"} == {
        ("slide", "pa", "S1"),
        ("slide", "pa", "S2"),
        ("slide", "pb", "S3"),
    }
    assert all(r["call"] in {"benign", "malignant"} for r in table if r["n_classified"] != "0")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("attack", malicious_corpus(MAX_MEMBERS), ids=lambda m: m.case)
def test_malicious_archives_are_refused_and_nothing_is_written(
    shared_stack: SharedStack, attack: Malicious
) -> None:
    root = shared_stack.data_dir.parent
    before = files_under(root)
    with httpx.Client(base_url=shared_stack.url, timeout=60) as client:
        jobs_before = client.get("/v1/metrics").json()["jobs_total"]
        files = [
            ("files", ("good.png", tile_bytes(7, size=32))),
            ("files", (attack.filename, attack.data)),
        ]
        response = client.post("/v1/jobs", files=files)
        assert response.status_code == attack.status, response.text
        detail = response.json()["detail"]
        assert attack.filename in detail and attack.member in detail
        assert client.get("/v1/metrics").json()["jobs_total"] == jobs_before
    written = {p for p in files_under(root) - before if not p.name.endswith(".log")}
    assert written == set()  # no blob, no extracted member, nothing anywhere
    assert not any(Path("/tmp").glob("evil-*")) and not any(root.parent.rglob("evil-*"))
