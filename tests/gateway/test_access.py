"""API keys and tenants at the gateway: 401 before the body is read, 404 across tenants."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.settings import Settings
from core.storage import BlobStore
from db.models import Job
from db.session import get_session
from gateway.access import UNKNOWN_KEY, AccessMiddleware, Admission
from gateway.app import create_app
from gateway.pools import Pools
from gateway.publisher import Publisher
from gateway.warm import WarmUp
from tests.gateway.conftest import api_client, count_rows, new_key, png_bytes

OPEN_PATHS = {"/healthz", "/health", "/readyz", "/metrics", "/docs", "/openapi.json"}


def protected_routes(settings: Settings) -> list[tuple[str, str]]:
    """Return (method, path) of every documented API operation, with random path IDs.

    Each must also document its 401 and 429 answers and the bearer scheme.
    """
    routes = []
    for path, operations in create_app(settings).openapi()["paths"].items():
        if path in OPEN_PATHS:
            continue
        for method, operation in operations.items():
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
            assert operation["security"] == [{"ApiKey": []}], (method, path)
            routes.append((method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)))
    return routes


def test_every_api_route_needs_a_valid_key(settings: Settings) -> None:
    routes = protected_routes(settings)
    assert len(routes) >= 10
    with TestClient(create_app(settings)) as anonymous:
        for method, path in routes:
            missing = anonymous.request(method, path)
            assert missing.status_code == 401, (method, path)
            assert missing.headers["www-authenticate"] == "Bearer"
            assert "missing API key" in missing.json()["detail"]
            wrong = anonymous.request(method, path, headers={"Authorization": "Bearer iq_nope"})
            assert wrong.json()["detail"] == UNKNOWN_KEY, (method, path)
            assert "this gateway's database" in UNKNOWN_KEY
            assert settings.resolved_database_url not in UNKNOWN_KEY
            basic = anonymous.request(method, path, headers={"Authorization": "Basic abc"})
            assert basic.status_code == 401
        for path in OPEN_PATHS - {"/readyz"}:
            assert anonymous.get(path).status_code == 200, path
        for path in ["/v1", "/v2/jobs", "/predict/", "/anything", "/webpage"]:  # closed by default
            assert anonymous.get(path).status_code == 401, path
        for path in ["/", "/web/jobs", "/web/static/api.js"]:  # the web page: no data, no key
            assert anonymous.get(path).status_code == 200, path
        assert anonymous.get("/web/anything").status_code == 404


@pytest.mark.parametrize("authorization", [b"", b"Bearer iq_unknown"])
def test_a_refusal_never_reads_the_body(settings: Settings, authorization: bytes) -> None:
    """The check runs before the route: an unauthenticated upload is not even received."""
    sent: list[dict[str, object]] = []

    async def route(scope: dict[str, object], receive: object, send: object) -> None:
        raise AssertionError("the route ran")

    async def receive() -> dict[str, object]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"multipart/form-data; boundary=x")]
    if authorization:
        headers.append((b"authorization", authorization))
    scope = {"type": "http", "method": "POST", "path": "/v1/jobs", "headers": headers}
    warm_up = WarmUp(Publisher(settings), BlobStore(settings.resolved_storage_url))
    warm_up.armed = True
    middleware = AccessMiddleware(route, Admission(settings, Pools()), warm_up)
    anyio.run(middleware, scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 401
    assert warm_up.thread is None  # a refused request warms nothing up


def test_a_refused_upload_stores_nothing(settings: Settings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        response = anonymous.post("/v1/jobs", files=[("files", ("a.png", png_bytes()))])
    assert response.status_code == 401
    assert count_rows(settings, Job) == 0
    assert not any((settings.data_dir / "blobs").rglob("*.*"))


def test_another_tenants_job_is_an_unknown_job(settings: Settings) -> None:
    with api_client(settings, "lab") as lab, api_client(settings, "other") as other:
        accepted = lab.post(
            "/v1/jobs", files=[("files", ("a.png", png_bytes()))], data={"close": "false"}
        )
        job_id = accepted.json()["job_id"]
        missing = str(uuid.uuid4())
        for method, suffix in [
            ("GET", ""),
            ("GET", "/results"),
            ("GET", "/summary"),
            ("POST", "/close"),
            ("DELETE", ""),
        ]:
            theirs = other.request(method, f"/v1/jobs/{job_id}{suffix}")
            unknown = other.request(method, f"/v1/jobs/{missing}{suffix}")
            assert theirs.status_code == unknown.status_code == 404, (method, suffix)
            assert theirs.json()["detail"].replace(job_id, missing) == unknown.json()["detail"]
        added = other.post(f"/v1/jobs/{job_id}/items", files=[("files", ("b.png", png_bytes(1)))])
        assert added.status_code == 404
        job = lab.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "open" and job["counts"]["total"] == 1  # untouched by the other
        assert other.get("/v1/metrics").json()["jobs_total"] == 0
        assert lab.get("/v1/metrics").json()["jobs_total"] == 1


def test_idempotency_keys_belong_to_their_tenant(settings: Settings) -> None:
    files = [("files", ("a.png", png_bytes()))]
    headers = {"Idempotency-Key": "same-key"}
    with api_client(settings, "lab") as lab, api_client(settings, "other") as other:
        first = lab.post("/v1/jobs", files=files, headers=headers).json()["job_id"]
        again = lab.post("/v1/jobs", files=files, headers=headers).json()["job_id"]
        theirs = other.post("/v1/jobs", files=files, headers=headers).json()["job_id"]
    assert first == again != theirs
    assert count_rows(settings, Job) == 2


def test_a_revoked_key_is_refused_once_the_key_cache_expires(settings: Settings) -> None:
    from db.api_keys import revoke_key

    # Long enough that the second call lands inside it even while the gateway's warm-up
    # thread (started by the first call) holds the interpreter on a busy machine: 0.5 s
    # was not.
    settings = settings.model_copy(update={"key_cache_seconds": 3.0})
    key = new_key(settings, "lab")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings), headers=headers) as client:
        assert client.get("/v1/metrics").status_code == 200
        with get_session(settings.resolved_database_url) as session:
            assert revoke_key(key[:12], session=session)
        assert client.get("/v1/metrics").status_code == 200  # trusted for key_cache_seconds
        time.sleep(3.1)
        assert client.get("/v1/metrics").status_code == 401


def test_auth_off_is_explicit_and_makes_everyone_the_default_tenant(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=sqlite_url, auth_enabled=False, _env_file=None
    )  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        job_id = client.post("/v1/jobs", files=[("files", ("a.png", png_bytes()))]).json()["job_id"]
        assert client.get(f"/v1/jobs/{job_id}").status_code == 200
    with get_session(sqlite_url) as session:
        assert session.scalar(select(Job.tenant)) == "default"
    assert Settings(_env_file=None).auth_enabled  # type: ignore[call-arg]


def test_an_unreachable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
        _env_file=None,
    )  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/metrics", headers={"Authorization": "Bearer iq_x"})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "the database is unreachable; retry later"


@pytest.mark.parametrize("tenant", ["", "Lab", "a b", "x" * 65, "../etc"])
def test_tenant_names_are_checked(settings: Settings, tenant: str) -> None:
    from db.api_keys import TenantNameError

    with pytest.raises(TenantNameError):
        new_key(settings, tenant)
