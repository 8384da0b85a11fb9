"""Debian's Chromium driven headless through Playwright against a real gateway and worker.

Chromium comes from the system (`apt-get install chromium`; `make test` and .ci/run install
it where they can), never from a Playwright download. Without it the tests skip with a
message, except where INFERQ_REQUIRE_SERVICES=1 (CI): there they fail.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from db.api_keys import create_key
from db.migrate import upgrade
from db.scratch import scratch_database
from db.session import get_session
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, REQUIRE_SERVICES, need
from tests.integration.conftest import gateway_and_worker, stack_environment

# The Makefile's `chromium` target installs it where none of these is found.
CANDIDATES = [
    os.environ.get("INFERQ_CHROMIUM", ""),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1200, "height": 760}
# Small enough that 30 generated tiles go up in several requests into one open job.
MAX_UPLOAD_BYTES = 300 * 1024


def find_chromium() -> str | None:
    """Return the system Chromium's path, or None."""
    return next((path for path in CANDIDATES if path and shutil.which(path)), None)


def need_chromium() -> str:
    """Return Chromium's path; skip (fail where services are required) without it or Playwright."""
    chromium = find_chromium()
    problem = None
    if chromium is None:
        problem = "Chromium not found: `make chromium` (apt-get install chromium) installs it"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed: make install"
    if chromium is not None and problem is None:
        return chromium
    if REQUIRE_SERVICES:
        pytest.fail(problem + " (INFERQ_REQUIRE_SERVICES=1)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium a module, on a fresh user-data-dir.

    Not one a session: Playwright's sync API runs an event loop in the main thread while
    it is open, and every later test that starts one of its own (asyncio.run, a
    TestClient) would fail with "already running".
    """
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            accept_downloads=True,
        )
        yield context
        context.close()


@dataclass
class WebStack:
    """The gateway's URL and a key per tenant."""

    url: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def web_stack(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, browser_context: Any
) -> Iterator[WebStack]:
    """A gateway and a worker on PostgreSQL and Redis, keys required, two tenants."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    need(REDIS_URL, "Redis")
    tmp = tmp_path_factory.mktemp("web")
    broker_url = f"{REDIS_URL}/{1 + secrets.randbelow(15)}"
    with scratch_database(POSTGRES_ADMIN_URL, prefix="inferq_web") as database_url:
        upgrade(database_url)
        with get_session(database_url) as session:
            keys = {t: create_key(t, session=session).plaintext for t in ("lab", "other")}
        env = stack_environment(tmp, database_url, broker_url, model_dir)
        env.update(INFERQ_AUTH_ENABLED="true", INFERQ_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES))
        with gateway_and_worker(env, tmp, workers_ready=True) as stack:
            yield WebStack(stack.url, keys)


def screenshot(page: Any, name: str) -> None:
    """Write a small PNG of the page to docs/screenshots/ (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot(full_page=False)))
    small = image.convert("RGB").quantize(colors=96)
    small.save(SCREENSHOTS / f"{name}.png", optimize=True)
