"""The API docs work on a closed network, and no answer redirects to the Host header."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.attacks.conftest import Target

ASSET_TYPES = {
    ".js": {"application/javascript", "text/javascript"},
    ".css": {"text/css"},
    ".png": {"image/png"},
    ".json": {"application/json"},
}
EVIL_HOST = "evil.example"
NO_SUCH_ID = "00000000-0000-0000-0000-000000000000"


def same_origin_references(html: str) -> list[str]:
    """Return every URL a docs page loads or points at, failing on any other origin."""
    assert "//" not in re.sub(r"<!--.*?-->", "", html).replace("window.location.origin", "")
    return re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_same_origin_assets(target: Target, page: str) -> None:
    html = httpx.get(f"{target.url}{page}", timeout=30)
    assert html.status_code == 200
    references = [a or b for a, b in same_origin_references(html.text)]
    assert any(ref.endswith(".js") for ref in references)
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = httpx.get(f"{target.url}{reference}", timeout=30)
        assert asset.status_code == 200, reference
        suffix = "." + reference.rsplit(".", 1)[-1]
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in ASSET_TYPES[suffix], (reference, content_type)
        assert len(asset.content) > 100


def raw_get(target: Target, path: str, host: str) -> bytes:
    """Send a GET with an exact path and Host header (no client normalisation)."""
    parts = urlsplit(target.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_docs_assets_do_not_open_other_routes(target: Target) -> None:
    for path in ("/docs/static/../v1/jobs", "/docs/static/%2e%2e/v1/jobs", "/docs/static/"):
        answer = raw_get(target, path, "t")
        assert answer.startswith(b"HTTP/1.1 404"), (path, answer[:200])


def candidate_paths(target: Target) -> list[str]:
    """Return every documented GET path (IDs filled in) and the open ones, each with and
    without a trailing slash, plus slash-led tricks that a redirect would turn into a host."""
    schema = httpx.get(f"{target.url}/openapi.json", timeout=30).json()
    paths = {re.sub(r"\{[^}]+\}", NO_SUCH_ID, path) for path in schema["paths"]}
    paths |= {"/metrics", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json", "/docs/static"}
    every = {variant for p in paths for variant in (p, p.rstrip("/") + "/")}
    return sorted(every | {"//evil.example/", "//evil.example/metrics/", "/\\evil.example/"})


def test_no_route_redirects_to_a_forged_host(target: Target) -> None:
    forged = {"Host": EVIL_HOST}
    signed = {**forged, "Authorization": f"Bearer {target.keys['lab']}"}
    with httpx.Client(base_url=target.url, timeout=30, follow_redirects=False) as client:
        for path in candidate_paths(target):
            for headers in (forged, signed):
                answer = client.get(path, headers=headers)
                assert not answer.is_redirect, (path, answer.headers.get("location"))
                assert EVIL_HOST not in answer.headers.get("location", "")
    answer = raw_get(target, "/metrics/", EVIL_HOST)
    assert answer.startswith(b"HTTP/1.1 404")
    assert target.healthz_seconds() < 1.0
