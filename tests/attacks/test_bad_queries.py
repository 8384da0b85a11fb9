"""Malformed cursors, limits and IDs: a 4xx with a reason on every route, never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes
from tests.nasty_inputs import CURSORS, NASTY, OUT_OF_RANGE_TIMES


@pytest.fixture(scope="module")
def job_id(target: Target) -> str:
    with target.client() as client:
        files = [("files", (f"{i}.png", tile_bytes(400 + i), "image/png")) for i in range(3)]
        created = client.post("/v1/jobs", files=files)
        assert created.status_code == 202, created.text
        return str(created.json()["job_id"])


def read_routes(target: Target) -> list[tuple[str, list[str]]]:
    """Return every documented GET route with the names of its query parameters."""
    schema = httpx.get(f"{target.url}/openapi.json", timeout=30).json()
    routes = []
    for path, operations in schema["paths"].items():
        get: dict[str, Any] | None = operations.get("get")
        if get is not None:
            names = [p["name"] for p in get.get("parameters", []) if p["in"] == "query"]
            routes.append((path, names))
    return routes


def assert_refused(response: httpx.Response, codes: set[int]) -> None:
    """Check the answer is one of the codes, with a sentence saying why."""
    assert response.status_code in codes, (response.request.url, response.text[:300])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, response.text[:300]


@pytest.mark.parametrize("cursor", CURSORS, ids=lambda value: value[:12])
@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/jobs/{job_id}/results"])
def test_a_malformed_cursor_is_a_400_with_a_reason(
    target: Target, job_id: str, route: str, cursor: str
) -> None:
    with target.client() as client:
        response = client.get(route.format(job_id=job_id), params={"cursor": cursor})
    assert_refused(response, {400})
    assert "cursor" in response.json()["detail"]


def test_the_cursors_the_api_gives_out_still_work(target: Target, job_id: str) -> None:
    with target.client() as client:
        results = f"/v1/jobs/{job_id}/results"
        first = client.get(results, params={"limit": 2}).json()
        rest = client.get(results, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert len(first["items"]) == 2 and len(rest["items"]) == 1
        another = client.post("/v1/jobs", files=[("files", ("n.png", tile_bytes(410)))])
        assert another.status_code == 202, another.text
        page = client.get("/v1/jobs", params={"limit": 1}).json()
        following = client.get("/v1/jobs", params={"limit": 1, "cursor": page["next_cursor"]})
    assert following.status_code == 200, following.text
    assert following.json()["jobs"][0]["job_id"] != page["jobs"][0]["job_id"]


@pytest.mark.parametrize("ids", ["²", "9" * 5000, "\x00", ",", "x" * 30_000])
def test_malformed_ids_are_a_400_with_a_reason(target: Target, ids: str) -> None:
    with target.client() as client:
        assert_refused(client.get("/v1/jobs", params={"ids": ids}), {400})


@pytest.mark.parametrize("limit", ["²", "9" * 5000, "2147483648", "0", "-1", "1.5", "\x00"])
@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/jobs/{job_id}/results"])
def test_a_malformed_limit_is_refused_with_a_reason(
    target: Target, job_id: str, route: str, limit: str
) -> None:
    with target.client() as client:
        response = client.get(route.format(job_id=job_id), params={"limit": limit})
    assert_refused(response, {422})
    assert "limit" in response.json()["detail"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_a_time_with_no_utc_counterpart_is_a_422_with_a_reason(
    target: Target, name: str, moment: str
) -> None:
    with target.client() as client:
        response = client.get("/v1/jobs", params={name: moment})
        assert_refused(response, {422})
        assert name in response.json()["detail"] and "UTC" in response.json()["detail"]
        in_range = client.get("/v1/jobs", params={name: "2026-01-01T00:00:00+14:00"})
    assert in_range.status_code == 200, in_range.text[:300]


def test_no_route_answers_5xx_to_nasty_query_values(target: Target, job_id: str) -> None:
    stored = count_rows(target.database_url)
    blobs = target.blob_count()
    healthz_before = target.healthz_seconds()
    sent = 0
    with target.client() as client:
        for path, names in read_routes(target):
            for name in {*names, "cursor", "limit", "ids"}:
                for value in NASTY:
                    url = path.replace("{job_id}", job_id)
                    response = client.get(url, params={name: value})
                    assert response.status_code < 500, (url, name, value[:20], response.text)
                    if response.status_code >= 400:
                        assert_refused(response, {response.status_code})
                    sent += 1
            for value in NASTY[:10]:  # a nasty job ID in the path
                if "{job_id}" in path:
                    response = client.get(path.replace("{job_id}", value or "x"))
                    assert response.status_code < 500, (path, value[:20], response.text)
    assert sent > 300
    assert count_rows(target.database_url) == stored
    assert target.blob_count() == blobs
    assert target.healthz_seconds() < max(1.0, 10 * healthz_before)
