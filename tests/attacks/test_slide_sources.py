"""Slides named by reference: no tenant reaches another's slides, an arbitrary URL, a path
outside its prefixes by `..` or a symlink; every refusal is a 4xx with the reason and
stores nothing. The job of a slide in the tenant's own folder is another tenant's 404."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows


@pytest.fixture(scope="module")
def scans(target: Target) -> Path:
    assert target.scans is not None
    (target.scans / "lab" / "slide.svs").write_bytes(b"a slide of lab")
    (target.scans / "other" / "secret.svs").write_bytes(b"a slide of other")
    outside = target.scans.parent / "outside.svs"
    outside.write_bytes(b"not under any prefix")
    link = target.scans / "lab" / "link.svs"
    if not link.exists():
        link.symlink_to(target.scans / "other" / "secret.svs")
    (target.scans / "lab" / "dir-link").symlink_to(target.scans / "other", target_is_directory=True)
    return target.scans


def refusals(scans: Path) -> list[tuple[str, int, str]]:
    lab, other = scans / "lab", scans / "other"
    return [
        (str(other / "secret.svs"), 403, "outside the prefixes"),  # another tenant's folder
        (f"{lab}/../other/secret.svs", 422, "'..'"),
        (f"{lab}/./slide.svs", 422, "'..'"),
        (str(lab / "link.svs"), 403, "outside the prefixes"),  # a symlink into other/
        (str(lab / "dir-link" / "secret.svs"), 403, "outside the prefixes"),
        (str(scans.parent / "outside.svs"), 403, "outside the prefixes"),
        (f"{lab}-evil/slide.svs", 403, "outside the prefixes"),  # a prefix's sibling
        ("/etc/passwd", 403, "outside the prefixes"),
        ("relative/slide.svs", 422, "absolute"),
        (f"file://{other}/secret.svs", 403, "outside the prefixes"),
        ("gs://other-bucket/slides/secret.svs", 403, "outside the prefixes"),
        ("gs://lab-bucket/slides-evil/a.svs", 403, "outside the prefixes"),
        ("gs://lab-bucket/slides/../../other-bucket/slides/a.svs", 422, "'..'"),
        ("gs://lab-bucket/slides/a.svs?generation=1", 422, "query"),
        ("http://169.254.169.254/latest/meta-data/", 422, "scheme"),
        ("https://example.com/slide.svs", 422, "scheme"),
        ("memory://lab/slide.svs", 422, "scheme"),
        ("s3://lab-bucket/slides/a.svs", 403, "outside the prefixes"),  # gs:// only allowed
        (f"{lab}/slide\x00.svs", 422, "plain"),
        (f"{lab}\\..\\other\\secret.svs", 422, "plain"),
        (str(lab / "absent.svs"), 422, "no slide file"),
    ]


def test_references_outside_the_tenants_prefixes_are_refused(target: Target, scans: Path) -> None:
    before = count_rows(target.database_url)
    with target.client("lab") as client:
        for url, code, reason in refusals(scans):
            response = client.post("/v1/jobs/slides", json={"slides": [{"url": url}]})
            assert response.status_code == code, (url, response.text)
            assert reason in response.json()["detail"], (url, response.text)
        mixed = [
            {"url": str(scans / "lab" / "slide.svs")},
            {"url": str(scans / "other" / "secret.svs")},
        ]
        response = client.post("/v1/jobs/slides", json={"slides": mixed})
        assert response.status_code == 403 and "slides[1]" in response.json()["detail"]
    assert count_rows(target.database_url) == before


def test_a_tenants_own_slide_is_accepted_and_hidden_from_others(
    target: Target, scans: Path
) -> None:
    with target.client("lab") as client:
        response = client.post(
            "/v1/jobs/slides", json={"slides": [{"url": str(scans / "lab" / "slide.svs")}]}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert client.get(f"/v1/jobs/{job_id}/slides").json()["slides"][0]["status"] == "queued"
    with target.client("other") as client:
        assert client.get(f"/v1/jobs/{job_id}/slides").status_code == 404
        slide = "00000000-0000-0000-0000-000000000000"
        assert client.get(f"/v1/jobs/{job_id}/slides/{slide}/geojson").status_code == 404
        response = client.post(
            "/v1/jobs/slides", json={"slides": [{"url": str(scans / "lab" / "slide.svs")}]}
        )
        assert response.status_code == 403


def test_malformed_bodies_are_4xx(target: Target) -> None:
    with target.client("lab") as client:
        assert client.post("/v1/jobs/slides", json={"slides": []}).status_code == 422
        assert (
            client.post("/v1/jobs/slides", json={"slides": [{"url": "/x", "extra": 1}]}).status_code
            == 422
        )
        response = client.post(
            "/v1/jobs/slides", content=b"\xff{", headers={"Content-Type": "application/json"}
        )
        assert response.status_code in {400, 422}
        too_many = {"slides": [{"url": "gs://lab-bucket/slides/a.svs"}] * 1001}
        assert client.post("/v1/jobs/slides", json=too_many).status_code == 422
