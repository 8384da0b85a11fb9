"""Archive uploads and manifests through the gateway, without a worker (SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from tests.archives import Malicious, malicious_corpus, tar_bytes, zip_bytes
from tests.gateway.conftest import api_client, png_bytes

FOLDER = {
    "scan/slide1/P001_0001.png": png_bytes(1),
    "scan/slide1/P001_0002.png": png_bytes(2),
    "scan/slide2/P002_0001.png": png_bytes(3),
    "scan/.DS_Store": b"\0\0\0\1Bud1",
    "scan/Thumbs.db": b"thumbs",
    "__MACOSX/scan/._P001_0001.png": b"apple double",
    "scan/.hidden/P009_0001.png": png_bytes(4),
    "scan/notes.txt": b"scanner log",
}
MANIFEST = (
    b"filename,label,patient_id,slide_id,stain\n"
    b"scan/slide1/P001_0001.png,benign,P001,S1,HE\n"
    b"P001_0002.png,benign,P001,S1,HE\n"
    b"P002_0001.png,malignant,P002,S2,\n"
    b"missing.png,benign,P003,,\n"
    b"too,few\n"
)
BUILDERS: dict[str, Callable[[dict[str, bytes]], bytes]] = {
    "scan.zip": zip_bytes,
    "scan.tar": tar_bytes,
    "scan.tar.gz": lambda members: tar_bytes(members, gz=True),
}


def blobs(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file())


@pytest.mark.parametrize("archive", sorted(BUILDERS))
def test_archives_keep_nested_paths_skip_junk_and_take_the_manifest(
    client: TestClient, archive: str
) -> None:
    files = [("files", (archive, BUILDERS[archive](FOLDER))), ("manifest", ("m.csv", MANIFEST))]
    body = client.post("/v1/jobs", files=files).json()
    assert body["n_items"] == 3 and body["n_rejected"] == 1
    assert body["rejected"] == [
        {"filename": "scan/notes.txt", "reason": "not a recognised image format"}
    ]
    junk = ["scan/.DS_Store", "scan/Thumbs.db", "__MACOSX/scan/._P001_0001.png"]
    assert sorted(body["skipped"]) == sorted([*junk, "scan/.hidden/P009_0001.png"])
    manifest = body["manifest"]
    assert (manifest["n_rows"], manifest["n_matched"], manifest["unmatched"]) == (
        4,
        3,
        ["missing.png"],
    )
    assert manifest["errors"] == [{"line": 6, "reason": "expected 5 fields, got 2"}]
    items = client.get(body["links"]["results"]).json()["items"]
    rows = [(i["filename"], i["patient_id"], i["slide_id"], i["true_label"]) for i in items]
    assert rows == [
        ("scan/slide1/P001_0001.png", "P001", "S1", "benign"),
        ("scan/slide1/P001_0002.png", "P001", "S1", "benign"),
        ("scan/slide2/P002_0001.png", "P002", "S2", "malignant"),
        ("scan/notes.txt", None, None, None),
    ]
    assert items[0]["attributes"] == {"stain": "HE"} and items[2]["attributes"] is None


@pytest.mark.parametrize("attack", malicious_corpus(10), ids=lambda m: m.case)
def test_malicious_archives_are_refused_whole(
    tmp_path: Path, sqlite_url: str, attack: Malicious
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        max_archive_members=10,
        max_compression_ratio=50,
        _env_file=None,  # type: ignore[call-arg]
    )
    with api_client(settings) as client:
        files = [("files", ("first.png", png_bytes(9))), ("files", (attack.filename, attack.data))]
        response = client.post("/v1/jobs", files=files)
        assert response.status_code == attack.status, response.text
        assert attack.member in response.json()["detail"]
        assert attack.filename in response.json()["detail"]
        assert client.get("/v1/metrics").json()["jobs_total"] == 0
    assert blobs(settings) == []  # not even the good image before the archive was stored
    assert not list(tmp_path.parent.rglob("evil*"))


def test_total_uncompressed_size_is_limited(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, max_archive_bytes=20_000, _env_file=None
    )  # type: ignore[call-arg]
    members = {f"{i}.png": png_bytes(i, size=(48, 48)) for i in range(4)}  # ~7 kB each
    with api_client(settings) as client:
        response = client.post("/v1/jobs", files=[("files", ("big.zip", zip_bytes(members)))])
    assert response.status_code == 413
    assert "member '2.png' takes the archive past 20000 uncompressed bytes" in response.text


def test_unreadable_archives_and_oversized_members_fail_alone(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, max_image_bytes=5000, _env_file=None
    )  # type: ignore[call-arg]
    archive = zip_bytes(
        {"small.png": png_bytes(1, size=(8, 8)), "big.png": png_bytes(2, size=(64, 64))}
    )
    files = [
        ("files", ("a.zip", archive)),
        ("files", ("broken.zip", b"PK\x03\x04" + b"\x00" * 100)),
        ("files", ("broken.tar.gz", b"\x1f\x8b\x08" + b"\x00" * 50)),
    ]
    with api_client(settings) as client:
        body = client.post("/v1/jobs", files=files).json()
    reasons = {r["filename"]: r["reason"] for r in body["rejected"]}
    assert body["n_items"] == 1
    assert reasons["big.png"] == "file is larger than the 5000-byte limit"
    assert reasons["broken.zip"].startswith("unreadable zip archive")
    assert reasons["broken.tar.gz"].startswith("unreadable tar archive")


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"", "empty file"),
        (b"name,label\na.png,x\n", "no filename column"),
        (b"filename,label,label\n", "repeated column names"),
        (b"\xff\xfe\x00filename", "not UTF-8"),
    ],
)
def test_unusable_manifests_are_400(client: TestClient, manifest: bytes, problem: str) -> None:
    files = [("files", ("a.png", png_bytes())), ("manifest", ("m.csv", manifest))]
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 400
    assert problem in response.json()["detail"]
