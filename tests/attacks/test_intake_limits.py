"""One budget per request: members across every archive, manifest lines reported, and
names whose `..` hides behind invisible characters."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.attacks.conftest import Target
from tests.attacks.intake import stored
from tests.integration.conftest import tile_bytes


def members_zip(count: int) -> bytes:
    """Return a zip of `count` tiny distinct files (stored, so it builds fast)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"t/{index}.png", str(index))
    return buffer.getvalue()


def test_members_are_counted_across_the_archives_of_a_request(target: Target) -> None:
    archive = members_zip(4_000)  # three of them: 12,000 members against a 10,000 budget
    files = [("files", (f"part{n}.zip", archive)) for n in range(3)]
    before = stored(target)
    with target.client() as client:
        response = client.post("/v1/jobs", files=[("files", ("a.png", tile_bytes(3))), *files])
    assert response.status_code == 413, response.text[:300]
    detail = response.json()["detail"]
    assert "part2.zip" in detail and "limit of 10000 members" in detail
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0


def test_manifest_errors_are_capped_with_a_count(target: Target) -> None:
    lines = b"".join(b"x%d.png,benign,P1,too,many\n" % n for n in range(100_000))
    manifest = b"filename,label,patient_id\n" + lines
    before = stored(target)
    with target.client() as client:
        response = client.post(
            "/v1/jobs",
            files=[("files", ("a.png", tile_bytes(4))), ("manifest", ("m.csv", manifest))],
        )
    assert response.status_code == 202, response.text[:300]
    assert len(response.content) < 200_000
    report = response.json()["manifest"]
    assert len(report["errors"]) == 1000 and report["n_errors"] == 100_000
    assert report["errors"][0] == {"line": 2, "reason": "expected 3 fields, got 5"}
    assert stored(target).manifest_rows == before.manifest_rows
    assert target.healthz_seconds() < 1.0


@pytest.mark.parametrize("member", ["\u200b../x.png", ".\u200b./x.png", "\u00ad../x.png"])
def test_dot_dot_hidden_by_invisible_characters_is_traversal(target: Target, member: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, tile_bytes(5))
    before = stored(target)
    with target.client() as client:
        response = client.post("/v1/jobs", files=[("files", ("hidden.zip", buffer.getvalue()))])
    assert response.status_code == 422, response.text[:300]
    assert "path outside the archive" in response.json()["detail"]
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0
