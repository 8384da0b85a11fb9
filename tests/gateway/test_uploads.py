"""Resumable uploads through the app: any order, retries, resume, complete, reset, abort."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from core.storage import BlobStore
from db.session import get_session
from db.uploads import completed_blob
from tests.gateway.conftest import api_client, limited_settings

CHUNK = 64 * 1024


@pytest.fixture
def uploads(tmp_path: Path, database_url: str) -> TestClient:
    """A gateway whose uploads take 64 KiB chunks, on each database backend."""
    settings = limited_settings(tmp_path, database_url, upload_chunk_bytes=CHUNK)
    return api_client(settings)


def start(client: TestClient, data: bytes, name: str = "slide.svs") -> dict[str, object]:
    """Create an upload of `data` and return the answer."""
    declared = {"filename": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    response = client.post("/v1/uploads", json=declared)
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


def put(client: TestClient, upload_id: object, index: int, data: bytes) -> int:
    """Send chunk `index` of `data`; return the status code."""
    body = data[index * CHUNK : (index + 1) * CHUNK]
    return client.put(f"/v1/uploads/{upload_id}/chunks/{index}", content=body).status_code


def test_chunks_in_any_order_with_retries_then_complete(uploads: TestClient) -> None:
    data = os.urandom(3 * CHUNK + 1234)
    created = start(uploads, data)
    assert (created["chunk_size"], created["chunk_count"], created["received"]) == (CHUNK, 4, [])
    upload_id = created["id"]
    for index in (3, 1, 1, 0):  # a retry of chunk 1 is answered like the first send
        assert put(uploads, upload_id, index, data) == 200
    assert uploads.get(f"/v1/uploads/{upload_id}").json()["received"] == [0, 1, 3]
    early = uploads.post(f"/v1/uploads/{upload_id}/complete")
    assert early.status_code == 409 and "[2]" in early.json()["detail"]
    assert put(uploads, upload_id, 2, data) == 200
    done = uploads.post(f"/v1/uploads/{upload_id}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete"
    assert done.json()["blob"] == hashlib.sha256(data).hexdigest()
    assert uploads.post(f"/v1/uploads/{upload_id}/complete").json() == done.json()
    settings: Settings = uploads.app.state.settings  # type: ignore[attr-defined]
    store = BlobStore(settings.resolved_storage_url)
    assert store.get(hashlib.sha256(data).hexdigest()) == data
    assert not (settings.data_dir / "blobs" / "uploads" / str(upload_id)).exists()
    with get_session(settings.resolved_database_url) as session:
        blob = completed_blob(session=session, tenant_id="lab", upload_id=uuid.UUID(str(upload_id)))
        other = completed_blob(session=session, tenant_id="x", upload_id=uuid.UUID(str(upload_id)))
    assert blob is not None and other is None
    assert (blob.filename, blob.size, blob.url.endswith(blob.sha256)) == (
        "slide.svs",
        len(data),
        True,
    )


def test_other_bytes_for_a_received_chunk_are_a_conflict(uploads: TestClient) -> None:
    data = os.urandom(2 * CHUNK)
    upload_id = start(uploads, data)["id"]
    assert put(uploads, upload_id, 0, data) == 200
    assert put(uploads, upload_id, 0, data[::-1]) == 409


def test_a_checksum_mismatch_resets_the_upload(uploads: TestClient) -> None:
    data = os.urandom(2 * CHUNK)
    declared = {"filename": "s.svs", "size": len(data), "sha256": "ab" * 32}
    upload_id = uploads.post("/v1/uploads", json=declared).json()["id"]
    for index in (0, 1):
        assert put(uploads, upload_id, index, data) == 200
    refused = uploads.post(f"/v1/uploads/{upload_id}/complete")
    assert refused.status_code == 422 and "send them again" in refused.json()["detail"]
    assert uploads.get(f"/v1/uploads/{upload_id}").json()["received"] == []


def test_delete_aborts_an_open_upload(uploads: TestClient) -> None:
    data = os.urandom(CHUNK)
    upload_id = start(uploads, data)["id"]
    assert put(uploads, upload_id, 0, data) == 200
    assert uploads.delete(f"/v1/uploads/{upload_id}").status_code == 204
    assert uploads.get(f"/v1/uploads/{upload_id}").status_code == 404
    settings: Settings = uploads.app.state.settings  # type: ignore[attr-defined]
    assert not (settings.data_dir / "blobs" / "uploads" / str(upload_id)).exists()


def test_two_gateways_share_one_upload(tmp_path: Path, database_url: str) -> None:
    """Chunks through one instance, the rest and completion through another."""
    settings = limited_settings(tmp_path, database_url, upload_chunk_bytes=CHUNK)
    first, second = api_client(settings), api_client(settings)
    data = os.urandom(2 * CHUNK)
    upload_id = start(first, data)["id"]
    assert put(first, upload_id, 1, data) == 200
    assert second.get(f"/v1/uploads/{upload_id}").json()["received"] == [1]
    assert put(second, upload_id, 0, data) == 200
    assert second.post(f"/v1/uploads/{upload_id}/complete").json()["status"] == "complete"
    assert first.get(f"/v1/uploads/{upload_id}").json()["status"] == "complete"


def test_a_chunk_always_fits_in_one_request(tmp_path: Path, database_url: str) -> None:
    settings = limited_settings(
        tmp_path, database_url, upload_chunk_bytes=CHUNK * 4, max_upload_bytes=CHUNK
    )
    created = start(api_client(settings), os.urandom(3 * CHUNK))
    assert (created["chunk_size"], created["chunk_count"]) == (CHUNK, 3)
