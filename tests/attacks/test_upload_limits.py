"""Every limit of resumable uploads against the real gateway: clear 4xx answers, never 500.

Declared sizes, chunk lengths (declared and streamed), indexes, checksums, another
tenant's upload, the open-upload quota, and chunks after completion.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows

GIB = 2**30


def declare(data: bytes, **changes: object) -> dict[str, object]:
    """Return the body that starts an upload of `data`, with some fields changed."""
    body: dict[str, object] = {
        "filename": "slide.svs",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return {**body, **changes}


def start(client: httpx.Client, data: bytes) -> str:
    """Start an upload of `data` and return its ID."""
    response = client.post("/v1/uploads", json=declare(data))
    assert response.status_code == 201, response.text
    upload_id: str = response.json()["id"]
    return upload_id


@pytest.fixture
def lab(target: Target) -> Iterator[httpx.Client]:
    """A client of the lab tenant; the probes answer fast after each attack."""
    with target.client() as client:
        yield client
    assert target.healthz_seconds() < 1.0


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"size": 11 * GIB}, 413, "over the limit"),
        ({"size": 0}, 422, "size"),
        ({"size": -5}, 422, "size"),
        ({"sha256": "not-a-digest"}, 422, "sha256"),
        ({"sha256": "g" * 64}, 422, "sha256"),
        ({"sha256": "ab" * 33}, 422, "sha256"),
        ({"filename": ""}, 422, "filename"),
        ({"filename": "x" * 2000}, 422, "filename"),
        ({"size": True}, 422, "size"),
        ({"size": "4"}, 422, "size"),
        ({"size": 4.0}, 422, "size"),
        ({"filename": 7}, 422, "filename"),
        ({"chunk_size": 1}, 422, "chunk_size"),
    ],
)
def test_bad_declarations_are_refused(
    target: Target, lab: httpx.Client, changes: dict[str, object], status: int, words: str
) -> None:
    stored = count_rows(target.database_url)
    response = lab.post("/v1/uploads", json=declare(b"data", **changes))
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert count_rows(target.database_url) == stored  # no upload was opened


def test_a_body_that_is_not_json_is_a_4xx(lab: httpx.Client) -> None:
    response = lab.post("/v1/uploads", content=b"\xff{not json", headers={"content-type": "x"})
    assert response.status_code == 422, response.text
    broken = {"content-type": "application/json"}
    response = lab.post("/v1/uploads", content=b'{"size": 1,', headers=broken)
    assert response.status_code == 422 and "JSON decode error" in response.text
    response = lab.post("/v1/uploads", content=b"{\xff", headers=broken)  # not even UTF-8
    assert response.status_code == 400 and "parsing the body" in response.text


def test_chunk_lengths_must_match_their_index(lab: httpx.Client) -> None:
    data = os.urandom(100)
    upload_id = start(lab, data)
    chunk = f"/v1/uploads/{upload_id}/chunks/0"
    longer = lab.put(chunk, content=data + b"x")
    assert longer.status_code == 413 and "exactly 100 bytes" in longer.json()["detail"]
    shorter = lab.put(chunk, content=data[:99])
    assert shorter.status_code == 422 and "the body has 99" in shorter.json()["detail"]
    assert lab.put(chunk, content=b"").status_code == 422
    assert lab.get(f"/v1/uploads/{upload_id}").json()["received"] == []


def test_a_streamed_body_larger_than_its_chunk_is_cut_off(lab: httpx.Client) -> None:
    upload_id = start(lab, os.urandom(100))

    def pieces() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(1000):
            yield os.urandom(64 * 1024)

    response = lab.put(f"/v1/uploads/{upload_id}/chunks/0", content=pieces())
    assert response.status_code == 413, response.text
    assert lab.get(f"/v1/uploads/{upload_id}").json()["received"] == []


def test_a_chunk_over_the_request_limit_is_refused_before_it_is_read(
    target: Target, lab: httpx.Client
) -> None:
    upload_id = start(lab, os.urandom(100))
    address = urlsplit(target.url)
    head = (
        f"PUT /v1/uploads/{upload_id}/chunks/0 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {target.keys['lab']}\r\nContent-Length: {40 * 2**20}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(head.encode() + b"x" * 1000)  # 40 MiB declared, 1000 bytes sent
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize(
    ("index", "words"), [("1", "out of range"), ("-1", "index"), ("x", "index")]
)
def test_an_index_out_of_range_is_a_422(lab: httpx.Client, index: str, words: str) -> None:
    upload_id = start(lab, os.urandom(100))
    response = lab.put(f"/v1/uploads/{upload_id}/chunks/{index}", content=os.urandom(100))
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def test_a_wrong_checksum_is_a_422_and_the_upload_starts_again(lab: httpx.Client) -> None:
    data = os.urandom(100)
    response = lab.post("/v1/uploads", json=declare(data, sha256="0" * 64))
    upload_id = response.json()["id"]
    assert lab.put(f"/v1/uploads/{upload_id}/chunks/0", content=data).status_code == 200
    refused = lab.post(f"/v1/uploads/{upload_id}/complete")
    assert refused.status_code == 422 and "not the declared" in refused.json()["detail"]
    assert lab.get(f"/v1/uploads/{upload_id}").json()["received"] == []
    assert lab.delete(f"/v1/uploads/{upload_id}").status_code == 204


def test_other_bytes_for_a_received_chunk_are_a_409(lab: httpx.Client) -> None:
    data = os.urandom(100)
    upload_id = start(lab, data)
    chunk = f"/v1/uploads/{upload_id}/chunks/0"
    assert lab.put(chunk, content=data).status_code == 200
    assert lab.put(chunk, content=data).status_code == 200  # a retry
    conflict = lab.put(chunk, content=os.urandom(100))
    assert conflict.status_code == 409 and "other bytes" in conflict.json()["detail"]
    assert lab.post(f"/v1/uploads/{upload_id}/complete").status_code == 200
    late = lab.put(chunk, content=data)
    assert late.status_code == 409 and "complete" in late.json()["detail"]
    assert lab.delete(f"/v1/uploads/{upload_id}").status_code == 409


def test_another_tenants_upload_is_a_404(target: Target, lab: httpx.Client) -> None:
    data = os.urandom(100)
    upload_id = start(lab, data)
    with target.client("other") as other:
        base = f"/v1/uploads/{upload_id}"
        answers = [
            other.get(base),
            other.put(f"{base}/chunks/0", content=data),
            other.post(f"{base}/complete"),
            other.delete(base),
        ]
    assert [answer.status_code for answer in answers] == [404] * 4
    assert lab.get(base).json()["received"] == []


def test_too_many_open_uploads_are_a_409(target: Target) -> None:
    with target.client("other") as other:
        opened = [start(other, os.urandom(10)) for _ in range(20)]  # the default limit
        refused = other.post("/v1/uploads", json=declare(b"one more"))
        assert refused.status_code == 409 and "20 uploads are open" in refused.json()["detail"]
        assert other.delete(f"/v1/uploads/{opened[0]}").status_code == 204
        assert other.post("/v1/uploads", json=declare(b"now it fits")).status_code == 201
        for upload_id in opened[1:]:
            assert other.delete(f"/v1/uploads/{upload_id}").status_code == 204


def test_chunks_past_the_in_flight_limit_get_429_and_the_held_ones_finish(
    target: Target, lab: httpx.Client
) -> None:
    data = os.urandom(100)
    address = urlsplit(target.url)
    held = []
    uploads = [start(lab, data) for _ in range(9)]
    for upload_id in uploads[:8]:  # INFERQ_MAX_CHUNKS_IN_FLIGHT's default: 10 of 100 bytes
        head = (
            f"PUT /v1/uploads/{upload_id}/chunks/0 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {target.keys['lab']}\r\nContent-Length: 100\r\n\r\n"
        )
        conn = socket.create_connection((address.hostname, address.port), timeout=10)
        conn.sendall(head.encode() + data[:10])
        held.append(conn)
    try:
        time.sleep(1.0)  # each is past its lookup, holding a slot while its body arrives
        refused = lab.put(f"/v1/uploads/{uploads[8]}/chunks/0", content=data)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        for conn in held:
            conn.sendall(data[10:])
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for conn in held:
            conn.close()
    for upload_id in uploads:  # the tenant's open uploads stay under the quota
        assert lab.delete(f"/v1/uploads/{upload_id}").status_code == 204
