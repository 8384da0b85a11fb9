"""The web page's documents and assets: open, bundled, under a strict policy, built safely."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from gateway.app import create_app
from gateway.web.headers import PAGE_POLICY, script_hashes
from gateway.web.pages import WEB

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/", "/web/submit", "/web/jobs", "/web/jobs/3b1e0000-0000-4000-8000-000000000000"]
PAGES += ["/web/operations"]


@pytest.fixture
def anonymous(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_open_html_under_the_strict_policy(anonymous: TestClient, path: str) -> None:
    page = anonymous.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in re.findall(r'(?:src|href)="(/web/static/[^"]+)"', page.text):
        assert anonymous.get(asset).status_code == 200, asset


@pytest.mark.parametrize(
    "path",
    ["/web/static/..%2f..%2faccess.py", "/web/static/../pages.py", "/web/static/nope.js"],
)
def test_assets_never_leave_the_static_folder(anonymous: TestClient, path: str) -> None:
    answer = anonymous.get(path)
    assert answer.status_code == 404 and "def " not in answer.text


def test_docs_allow_exactly_their_own_inline_script(anonymous: TestClient) -> None:
    docs = anonymous.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert script_hashes(docs.content) in policy and "'sha256-" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in anonymous.get("/redoc").headers["content-security-policy"]
    assert "content-security-policy" not in anonymous.get("/healthz").headers  # the API's own


def test_shells_and_scripts_never_build_html_from_text() -> None:
    for shell in (WEB / "templates").glob("*.html"):
        text = shell.read_text()
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, shell.name  # no inline code
        assert re.search(r"\son[a-z]+\s*=|\sstyle\s*=|<style", text) is None, shell.name
    for script in (WEB / "static").glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (script.name, sink)
        assert "localStorage" not in text and "document.cookie" not in text, script.name


def test_every_asset_ships_in_the_wheel() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = globs["package-data"]["gateway"]
    for path in WEB.rglob("*"):
        if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts:
            relative = path.relative_to(WEB.parent).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
