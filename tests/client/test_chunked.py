"""The chunked uploader without a server: 5xx and lost connections are retried, refusals
are not, and a file already recorded in the ledger resumes its upload."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from client.api import ApiError, InferqClient
from client.chunked import ChunkedUploader
from client.ledger import Ledger

UPLOAD = "22222222-2222-4222-8222-222222222222"
CHUNK = 4


def upload_answer(data: bytes, received: list[int], status: str = "open") -> dict[str, object]:
    """Return the gateway's view of an upload of `data` in 4-byte chunks."""
    base = f"/v1/uploads/{UPLOAD}"
    return {
        "id": UPLOAD,
        "filename": "s.svs",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "status": status,
        "chunk_size": CHUNK,
        "chunk_count": -(-len(data) // CHUNK),
        "received": received,
        "created_at": "2026-12-02T12:00:00Z",
        "expires_at": None,
        "links": {"self": base, "chunks": f"{base}/chunks/{{index}}", "complete": base},
    }


class FakeGateway:
    """Answers an upload's requests; `faults` are served first to the chunk PUTs."""

    def __init__(self, data: bytes, faults: list[httpx.Response | Exception]) -> None:
        self.data = data
        self.faults = faults
        self.chunks: dict[int, bytes] = {}
        self.puts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.puts += 1
            if self.faults:
                fault = self.faults.pop(0)
                if isinstance(fault, Exception):
                    raise fault
                return fault
            index = int(request.url.path.rsplit("/", 1)[1])
            self.chunks[index] = request.content
            answer = {"upload_id": UPLOAD, "index": index, "size": len(request.content)}
            answer |= {"sha256": "0" * 64, "received_count": len(self.chunks), "chunk_count": 3}
            return httpx.Response(200, json=answer)
        done = request.url.path.endswith("/complete")
        answer = upload_answer(self.data, sorted(self.chunks), "complete" if done else "open")
        return httpx.Response(201 if request.method == "POST" and not done else 200, json=answer)


def uploader(handler: Callable[[httpx.Request], httpx.Response], ledger: Ledger) -> ChunkedUploader:
    client = InferqClient("http://api", transport=httpx.MockTransport(handler), attempts=1)
    return ChunkedUploader(client, ledger, attempts=4, max_wait=0.01)


def test_server_errors_and_lost_connections_are_retried(tmp_path: Path) -> None:
    data = b"0123456789"
    path = tmp_path / "s.svs"
    path.write_bytes(data)
    faults: list[httpx.Response | Exception] = [
        httpx.Response(500, json={"detail": "boom"}),
        httpx.ConnectError("gone"),
        httpx.Response(502),
    ]
    gateway = FakeGateway(data, faults)
    done = uploader(gateway, Ledger(tmp_path / "l.sqlite3")).upload(path)
    assert done.upload.status == "complete" and gateway.puts == 6
    assert b"".join(gateway.chunks[i] for i in range(3)) == data


def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "s.svs"
    path.write_bytes(b"0123456789")
    gateway = FakeGateway(path.read_bytes(), [httpx.Response(409, json={"detail": "other"})])
    with pytest.raises(ApiError, match="other"):
        uploader(gateway, Ledger(tmp_path / "l.sqlite3")).upload(path)
    assert gateway.puts == 1


def test_a_recorded_upload_sends_only_the_missing_chunks(tmp_path: Path) -> None:
    data = b"0123456789"
    path = tmp_path / "s.svs"
    path.write_bytes(data)
    ledger = Ledger(tmp_path / "l.sqlite3")
    gateway = FakeGateway(data, [])
    gateway.chunks = {0: data[:4], 2: data[8:]}
    first = uploader(gateway, ledger)
    first.start(path)  # records the file's SHA-256 and the upload ID
    gateway.puts = 0
    done = uploader(gateway, ledger).upload(path)
    assert (done.resumed, done.sent, gateway.puts) == (2, 1, 1)
    assert sorted(gateway.chunks) == [0, 1, 2]
