"""The preview route: small JPEGs of the tenant's own items only, bounded in size and work."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from client.api import InferqClient
from tests.attacks.conftest import Target
from tests.integration.conftest import tile_bytes


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 180)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def items(target: Target) -> dict[str, str]:
    """Submit a tile, a wide image, a huge PNG and a text file; return job and item IDs."""
    files = [
        ("files", ("tile.png", tile_bytes(900), "image/png")),
        ("files", ("wide.png", png(600, 150), "image/png")),
        ("files", ("huge.png", png(6000, 5000), "image/png")),
        ("files", ("notes.txt", b"not an image", "text/plain")),
    ]
    with target.client() as client:
        created = client.post("/v1/jobs", files=files)
        assert created.status_code == 202, created.text
        job = created.json()["job_id"]
        page = client.get(f"/v1/jobs/{job}/results").json()["items"]
    return {"job": job, **{item["filename"]: item["item_id"] for item in page}}


def path(items: dict[str, str], name: str) -> str:
    return f"/v1/jobs/{items['job']}/items/{items[name]}/thumbnail"


def test_a_preview_is_a_small_jpeg_with_the_image_shape(target: Target, items: dict) -> None:  # type: ignore[type-arg]
    with target.client() as client:
        tile = client.get(path(items, "tile.png"))
        wide = client.get(path(items, "wide.png"), params={"size": 64})
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert tile.headers["cache-control"].startswith("private")
    assert Image.open(io.BytesIO(tile.content)).size == (96, 96)  # never enlarged
    assert Image.open(io.BytesIO(wide.content)).size == (64, 16)


def test_previews_are_refused_with_a_reason(target: Target, items: dict) -> None:  # type: ignore[type-arg]
    with target.client() as client:
        too_big = client.get(path(items, "tile.png"), params={"size": 4096})
        huge = client.get(path(items, "huge.png"))
        refused = client.get(path(items, "notes.txt"))
        unknown = client.get(f"/v1/jobs/{items['job']}/items/{uuid.uuid4()}/thumbnail")
        no_id = client.get(f"/v1/jobs/{items['job']}/items/nope/thumbnail")
    assert too_big.status_code == 422 and "size" in too_big.json()["detail"]
    assert huge.status_code == 422 and "too large for a preview" in huge.json()["detail"]
    assert refused.status_code == 404 and "not stored" in refused.json()["detail"]
    assert unknown.status_code == 404 and no_id.status_code == 422


def test_another_tenant_gets_the_unknown_answer(target: Target, items: dict) -> None:  # type: ignore[type-arg]
    with target.client("other") as other:
        theirs = other.get(path(items, "tile.png"))
    with target.client() as client:
        missing = client.get(f"/v1/jobs/{uuid.uuid4()}/items/{items['tile.png']}/thumbnail")
    assert theirs.status_code == 404 and theirs.json()["detail"] == missing.json()[
        "detail"
    ].replace(missing.request.url.path.split("/")[3], items["job"])
    assert target.client().get(path(items, "tile.png")).status_code == 200
    anonymous = target.client().get(path(items, "tile.png"), headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_the_client_reads_previews_the_tenant_and_the_history(target: Target, items: dict) -> None:  # type: ignore[type-arg]
    with InferqClient(target.url, api_key=target.keys["lab"]) as client:
        preview = client.thumbnail(items["job"], items["wide.png"], size=32)
        assert Image.open(io.BytesIO(preview)).size == (32, 8)
        found = client.tenant()
        assert found["tenant"] == "lab" and found["operator"] is False
        assert found["max_upload_bytes"] > 0 and found["max_files_per_request"] > 0
        history = client.metrics_history(minutes=5, step_seconds=60)
        assert len(history["buckets"]) == 5
