"""Bad input gets a clear 4xx or a failed item with a reason, stores nothing outside its job,
and leaves the gateway healthy."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from core.settings import Settings
from db.models import Item
from db.session import get_session
from tests.gateway.conftest import api_client, count_rows, limited_settings, png_bytes, stored_blobs


def image_bytes(format: str, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 150)).save(buffer, format=format)
    return buffer.getvalue()


@pytest.mark.parametrize("n_files", [4, 9])
def test_too_many_file_parts_are_400_and_store_nothing(
    tmp_path: Path, sqlite_url: str, n_files: int
) -> None:
    settings = limited_settings(tmp_path, sqlite_url, max_files_per_request=3)
    with api_client(settings) as client:
        files = [("files", (f"{i}.png", png_bytes(i))) for i in range(n_files)]
        response = client.post("/v1/jobs", files=files)
        assert response.status_code == 400
        assert "files" in response.json()["detail"].lower()
        assert client.get("/healthz").status_code == 200
    assert stored_blobs(settings) == 0 and count_rows(settings, Item) == 0


def test_too_many_text_fields_are_400(client: TestClient, settings: Settings) -> None:
    fields = {f"field{i}": "x" for i in range(40)}
    response = client.post("/v1/jobs", files=[("files", ("a.png", png_bytes()))], data=fields)
    assert response.status_code == 400 and "Too many fields" in response.json()["detail"]
    assert count_rows(settings, Item) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "multipart/form-data; boundary=x", 422),  # no parts at all
        (b"--x--\r\n", "multipart/form-data; boundary=x", 422),
        (b"files=a.png", "application/x-www-form-urlencoded", 422),
        (b'{"files": ["a.png"]}', "application/json", 422),
        (b"\x00\x01garbage", "multipart/form-data", 400),  # no boundary
    ],
)
def test_empty_and_non_multipart_bodies_are_4xx(
    client: TestClient, body: bytes, content_type: str, status: int
) -> None:
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("name", "content_type", "data"),
    [
        ("slide.png", "image/png", b"<html>not an image</html>"),
        ("slide.jpg", "image/jpeg", b"%PDF-1.4 a document"),
        ("slide.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("slide.ico", "image/x-icon", image_bytes("ICO")),
        ("slide.png", "image/png", b""),
    ],
)
def test_content_decides_whatever_the_name_or_type_claims(
    client: TestClient, settings: Settings, name: str, content_type: str, data: bytes
) -> None:
    response = client.post("/v1/jobs", files=[("files", (name, data, content_type))])
    assert response.status_code == 415 and name in response.json()["detail"]
    assert stored_blobs(settings) == 0


def test_an_image_under_a_false_name_is_accepted(client: TestClient) -> None:
    body = client.post("/v1/jobs", files=[("files", ("notes.txt", png_bytes(), "text/plain"))])
    assert body.status_code == 202 and body.json()["n_items"] == 1


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path, sqlite_url: str) -> None:
    settings = limited_settings(tmp_path, sqlite_url, max_image_pixels=10_000)
    bomb = image_bytes("PNG", size=(4000, 4000))  # 16 Mpx of one colour: a few kB
    with api_client(settings) as client:
        files = [("files", ("bomb.png", bomb)), ("files", ("ok.png", png_bytes()))]
        body = client.post("/v1/jobs", files=files).json()
        assert body["n_items"] == 1 and "pixels" in body["rejected"][0]["reason"]
        alone = client.post("/v1/jobs", files=[("files", ("bomb.png", bomb))])
        assert alone.status_code == 415 and "pixels" in alone.json()["detail"]


def test_truncated_images_pass_intake_and_fail_alone_at_the_worker(client: TestClient) -> None:
    truncated = png_bytes(size=(64, 64))[:200]  # the header is whole, the pixels are not
    body = client.post("/v1/jobs", files=[("files", ("cut.png", truncated))])
    assert body.status_code == 202  # decoding happens at the worker: the item fails there
    # (tests/integration/test_stack.py follows such an item to "corrupt image data")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a" * 2000 + ".png", "a" * 1024),
        ("../../etc/passwd.png", "../../etc/passwd.png"),  # a name only: never a path on disk
        ("Cafe\u0301.png", "Caf\u00e9.png"),  # NFC
        ("\u202eevil\u200b\u2066.png", "evil.png"),  # bidi override, zero width, isolate
        ("\U0001f52c tile.png", "\U0001f52c tile.png"),
        ("   ", "upload-0"),
    ],
)
def test_odd_filenames_are_cleaned_not_trusted(
    client: TestClient, settings: Settings, raw: str, clean: str
) -> None:
    body = client.post("/v1/jobs", files=[("files", (raw, png_bytes()))]).json()
    item = client.get(body["links"]["results"]).json()["items"][0]
    assert item["filename"] == clean
    blobs = [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].name == item_hash(settings)


def test_a_part_header_too_long_to_parse_is_400(client: TestClient, settings: Settings) -> None:
    response = client.post("/v1/jobs", files=[("files", ("a" * 5000 + ".png", png_bytes()))])
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid multipart data."
    assert stored_blobs(settings) == 0


def item_hash(settings: Settings) -> str:
    with get_session(settings.resolved_database_url) as session:
        return str(session.scalar(select(Item.content_hash)))


@pytest.mark.parametrize(
    ("manifest", "line", "reason"),
    [
        (b"filename,label\n,benign\n", 2, "filename"),
        (b"filename,label\na.png,benign\na.png,malignant\n", 3, "repeats line 2"),
        (b"filename,label\na.png,benign,extra,cols\n", 2, ""),
    ],
)
def test_unusable_manifest_lines_are_listed_with_their_number(
    client: TestClient, manifest: bytes, line: int, reason: str
) -> None:
    files = [("files", ("a.png", png_bytes())), ("manifest", ("m.csv", manifest))]
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 202
    errors = response.json()["manifest"]["errors"]
    assert [error["line"] for error in errors] == [line]
    assert reason in errors[0]["reason"]


def test_a_manifest_that_is_not_csv_is_400(client: TestClient) -> None:
    files = [("files", ("a.png", png_bytes())), ("manifest", ("m.csv", png_bytes()))]
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 400 and response.json()["detail"].startswith("manifest:")
