"""Parts a route cannot use as sent: NUL bytes in a manifest, a part sent twice, a file only
another of Pillow's plugins reads."""

from __future__ import annotations

import struct

import pytest

from tests.attacks.conftest import Target
from tests.attacks.intake import stored
from tests.integration.conftest import tile_bytes

NUL_MANIFESTS = {
    "filename": b"filename,label,patient_id\na\x00.png,benign,P1\n",
    "label": b"filename,label,patient_id\na.png,ben\x00ign,P1\n",
    "patient_id": b"filename,label,patient_id\na.png,benign,P\x001\n",
}


@pytest.mark.parametrize("column", sorted(NUL_MANIFESTS))
def test_nul_byte_in_a_manifest_is_400_and_the_connection_lives(
    target: Target, column: str
) -> None:
    before = stored(target)
    with target.client() as client:
        files = [
            ("files", ("a.png", tile_bytes(11))),
            ("manifest", ("m.csv", NUL_MANIFESTS[column])),
        ]
        response = client.post("/v1/jobs", files=files)
        assert response.status_code == 400, response.text[:300]
        assert "manifest: line 2" in response.json()["detail"]
        assert "NUL" in response.json()["detail"]
        assert stored(target) == before
        again = client.post("/v1/jobs", files=[("files", ("b.png", tile_bytes(12)))])
        assert again.status_code == 202, again.text[:300]
    assert target.healthz_seconds() < 1.0


def test_predict_with_two_file_parts_is_400(target: Target) -> None:
    before = stored(target)
    files = [("file", ("a.png", tile_bytes(13))), ("file", ("b.png", tile_bytes(14)))]
    with target.client() as client:
        response = client.post("/predict", files=files)
    assert response.status_code == 400, response.text[:300]
    assert "2 'file' parts" in response.json()["detail"]
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0


def test_two_manifest_parts_are_400(target: Target) -> None:
    manifest = b"filename,label\na.png,benign\n"
    parts = [("manifest", ("m1.csv", manifest)), ("manifest", ("m2.csv", manifest))]
    before = stored(target)
    with target.client() as client:
        created = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(15))), *parts])
        assert created.status_code == 400, created.text[:300]
        assert "2 'manifest' parts" in created.json()["detail"]
        assert stored(target) == before
        opened = client.post(
            "/v1/jobs", data={"close": "false"}, files=[("files", ("b.png", tile_bytes(16)))]
        )
        job_id = opened.json()["job_id"]
        middle = stored(target)
        added = client.post(f"/v1/jobs/{job_id}/items", files=parts)
    assert added.status_code == 400, added.text[:300]
    assert "2 'manifest' parts" in added.json()["detail"]
    assert stored(target) == middle
    assert target.healthz_seconds() < 1.0


def dds_with_no_pixel_format() -> bytes:
    """A DirectDraw Surface header whose pixel-format flags are 0: Pillow's DDS plugin
    raised NotImplementedError on it, past the gateway's image checks, as a 500."""
    header = struct.pack("<3I", 0, 8, 8) + bytes(56) + struct.pack("<4I", 32, 0, 0, 0)
    return b"DDS " + struct.pack("<I", 124) + header + bytes(36)


def test_a_file_only_another_pillow_plugin_reads_is_refused_with_a_reason(
    target: Target,
) -> None:
    oddity = dds_with_no_pixel_format()
    before = stored(target)
    with target.client() as client:
        alone = client.post("/v1/jobs", files=[("files", ("x.dds", oddity))])
        predicted = client.post("/predict", files={"file": ("x.dds", oddity)})
        for response in (alone, predicted):
            assert response.status_code == 415, response.text[:300]
            assert "x.dds: not a recognised image format" in response.json()["detail"]
        assert stored(target) == before
        files = [("files", ("a.png", tile_bytes(17))), ("files", ("x.dds", oddity))]
        mixed = client.post("/v1/jobs", files=files)
    assert mixed.status_code == 202, mixed.text[:300]
    assert mixed.json()["rejected"] == [
        {"filename": "x.dds", "reason": "not a recognised image format"}
    ]
    after = stored(target)  # the image and its job, the refused part as a failed item
    assert (after.blobs, after.jobs, after.items) == (
        before.blobs + 1,
        before.jobs + 1,
        before.items + 2,
    )
    assert target.healthz_seconds() < 1.0


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("close", ["true", "false"]),
        ("priority", ["bulk", "interactive"]),
        ("callback_url", ["", ""]),
    ],
)
def test_a_field_sent_twice_is_400_and_stores_nothing(
    target: Target, field: str, values: list[str]
) -> None:
    before = stored(target)
    body = [(field, (None, value)) for value in values]
    with target.client() as client:
        response = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(18))), *body])
    assert response.status_code == 400, response.text[:300]
    assert f"2 '{field}' parts" in response.json()["detail"]
    assert stored(target) == before
