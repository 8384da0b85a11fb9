"""An Idempotency-Key reused with a different request is a 422, not the first answer; the
same request again still gets the first answer and adds nothing."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

MANIFEST = b"filename,label,patient_id\na.png,benign,P1\n"


def submit(client: httpx.Client, key: str, files: list[Any], **data: str) -> httpx.Response:
    """Create a job with an Idempotency-Key."""
    return client.post("/v1/jobs", files=files, data=data, headers={"Idempotency-Key": key})


def image(name: str, seed: int) -> tuple[str, tuple[str, bytes, str]]:
    """Return one image part."""
    return ("files", (name, tile_bytes(seed), "image/png"))


def test_a_key_reused_with_another_body_is_a_422(target: Target) -> None:
    key = secrets.token_hex(8)
    first_files = [image("a.png", 600), ("manifest", ("m.csv", MANIFEST, "text/csv"))]
    others: list[tuple[list[Any], dict[str, str]]] = [
        ([image("a.png", 601), first_files[1]], {}),  # other image bytes
        ([image("b.png", 600), first_files[1]], {}),  # another file name
        ([image("a.png", 600)], {}),  # the manifest left out
        ([image("a.png", 600), ("manifest", ("m.csv", MANIFEST + b"x,y,z\n"))], {}),
        ([*first_files, image("c.png", 602)], {}),  # one more file
        (first_files, {"close": "false"}),  # another form field
    ]
    healthz_before = target.healthz_seconds()
    with target.client() as client:
        first = submit(client, key, first_files)
        assert first.status_code == 202, first.text
        stored, blobs = count_rows(target.database_url), target.blob_count()
        for files, data in others:
            answer = submit(client, key, files, **data)
            assert answer.status_code == 422, answer.text
            detail = answer.json()["detail"]
            assert key in detail and "different request" in detail, detail
        assert count_rows(target.database_url) == stored
        assert target.blob_count() == blobs
        again = submit(client, key, first_files)  # a true retry: the first answer
        assert again.status_code == 202 and again.json() == first.json()
        assert count_rows(target.database_url) == stored
    assert target.healthz_seconds() < max(1.0, 10 * healthz_before)


def test_a_key_reused_on_an_open_job_with_another_body_is_a_422(target: Target) -> None:
    with target.client() as client:
        created = submit(client, secrets.token_hex(8), [image("o.png", 610)], close="false")
        assert created.status_code == 202, created.text
        items_url = created.json()["links"]["items"]
        key, headers = secrets.token_hex(8), {}
        headers["Idempotency-Key"] = key
        added = client.post(items_url, files=[image("p.png", 611)], headers=headers)
        assert added.status_code == 202, added.text
        stored = count_rows(target.database_url)
        other = client.post(items_url, files=[image("q.png", 612)], headers=headers)
        assert other.status_code == 422 and key in other.json()["detail"], other.text
        retry = client.post(items_url, files=[image("p.png", 611)], headers=headers)
        assert retry.status_code == 202 and retry.json() == added.json()
        assert count_rows(target.database_url) == stored


def test_the_same_parts_in_a_new_multipart_body_are_the_same_request(target: Target) -> None:
    """A retry has a new multipart boundary (and may label parts differently): still a replay."""
    key = secrets.token_hex(8)
    with target.client() as client:
        first = submit(client, key, [("files", ("r.png", tile_bytes(620), "image/png"))])
        retry = submit(client, key, [("files", ("r.png", tile_bytes(620), "text/plain"))])
    assert first.status_code == retry.status_code == 202, retry.text
    assert retry.json() == first.json()
