"""Slides on the web page in a real browser: the page's SHA-256 against hashlib, then a
synthetic slide dropped on the submit page goes up in chunks, and its job page shows the
heatmap and downloads the GeoJSON."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db.api_keys import create_key
from db.migrate import upgrade
from db.scratch import scratch_database
from db.session import get_session
from tests.browser.conftest import WebStack, screenshot
from tests.browser.test_web_page import Watched, sign_in
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, need
from tests.integration.conftest import gateway_and_worker, stack_environment
from tests.slides import nucleus_model_dir
from training.slides import SlideSpec, write_slide

pytestmark = pytest.mark.services

#: About 120 tissue tiles with a malignant patch: a few seconds of work for the worker.
SMALL_SLIDE = SlideSpec(1600, 1200, [(800, 600, 700, 500)], [(450, 350, 1100, 850)])
CHUNK_BYTES = 64 * 1024  # the smallest chunk the gateway allows: the slide goes in several
SIZES = [0, 1, 55, 56, 63, 64, 65, 1000, 4096 * 3 + 17]


@pytest.fixture(scope="module")
def slide_web_stack(
    tmp_path_factory: pytest.TempPathFactory, browser_context: Any
) -> Iterator[WebStack]:
    """A gateway and a worker serving a model with a pixel size; a .tiff over 64 KiB is a slide."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    need(REDIS_URL, "Redis")
    tmp = tmp_path_factory.mktemp("web-slides")
    model = nucleus_model_dir(tmp / "model")
    broker_url = f"{REDIS_URL}/{1 + secrets.randbelow(15)}"
    with scratch_database(POSTGRES_ADMIN_URL, prefix="inferq_webslides") as database_url:
        upgrade(database_url)
        with get_session(database_url) as session:
            keys = {"lab": create_key("lab", session=session).plaintext}
        env = stack_environment(tmp, database_url, broker_url, model)
        env.update(
            INFERQ_AUTH_ENABLED="true",
            INFERQ_MAX_IMAGE_BYTES=str(CHUNK_BYTES),
            INFERQ_UPLOAD_CHUNK_BYTES=str(CHUNK_BYTES),
            INFERQ_SLIDE_BLOCK_TILES="64",
        )
        with gateway_and_worker(env, tmp, workers_ready=True) as stack:
            yield WebStack(stack.url, keys)


@pytest.fixture
def page(browser_context: Any, slide_web_stack: WebStack) -> Iterator[Any]:
    tab = browser_context.new_page()
    yield tab
    tab.close()


def pattern(size: int) -> bytes:
    return bytes((index * 31 + 7) & 255 for index in range(size))


HASH_IN_PAGE = """async (sizes) => {
  const { Sha256, sha256File } = await import("/web/static/sha256.js");
  const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
  const answers = [];
  for (const n of sizes) {
    const pieces = new Sha256();
    for (let at = 0; at < n; at += 37) pieces.update(bytes(n).subarray(at, at + 37));
    answers.push([pieces.hex(), await sha256File(new Blob([bytes(n)]), null, 1000)]);
  }
  return answers;
}"""


DROP = """([name, data]) => {
  const transfer = new DataTransfer();
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, { type: "image/tiff" }));
  return transfer;
}"""


def drop_file(page: Any, selector: str, path: Path) -> None:
    """Drop a file on an element, as a drag from the desktop does."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(DROP, [path.name, data])
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_the_page_sha256_matches_hashlib(page: Any, slide_web_stack: WebStack) -> None:
    page.goto(slide_web_stack.url + "/")
    answers = page.evaluate(HASH_IN_PAGE, SIZES)
    expected = [hashlib.sha256(pattern(size)).hexdigest() for size in SIZES]
    assert [pieces for pieces, _ in answers] == expected
    assert [sliced for _, sliced in answers] == expected


def test_a_dropped_slide_goes_up_in_chunks_and_shows_its_heatmap(
    page: Any, slide_web_stack: WebStack, tmp_path: Path
) -> None:
    slide = write_slide(tmp_path / "biopsy.tiff", SMALL_SLIDE)
    assert slide.stat().st_size > 3 * CHUNK_BYTES
    watched = Watched(page, slide_web_stack.url)
    sign_in(page, slide_web_stack, path="/?next=/web/submit")
    drop_file(page, "#drop", slide)
    page.wait_for_selector("#chosen:has-text('1 whole-slide file')")
    page.click("#send")
    page.wait_for_url("**/web/jobs/*", timeout=60_000)
    page.wait_for_selector("#slides tr[data-status=succeeded]", timeout=180_000)
    image = page.wait_for_selector("img.heatmap[src^='blob:']", timeout=30_000)
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image)
    row = page.inner_text("#slides tbody tr")
    assert "biopsy.tiff" in row and "mm²" in row
    with page.expect_download() as download:
        page.click(".slide-output .geojson")
    geojson = json.loads(Path(download.value.path()).read_text())
    assert download.value.suggested_filename == "biopsy.geojson"
    assert geojson["type"] == "FeatureCollection" and geojson["features"]
    with page.expect_download() as tiles:
        page.click(".slide-output .tiles-csv")
    assert tiles.value.suggested_filename == "biopsy-tiles.csv"
    n_tiles = int(page.inner_text("#slides tbody tr td:nth-child(5)"))
    assert len(Path(tiles.value.path()).read_text().splitlines()) == n_tiles + 1 > 50
    assert watched.clean() and not watched.errors
    assert not [k for k in page.evaluate("Object.keys(sessionStorage)") if "upload" in k]
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "slide")


RESUME_IN_PAGE = """async (size) => {
  const { uploadSlide } = await import("/web/static/slides.js");
  const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 131 + 17) & 255);
  const file = new File([bytes], "resumed.svs", { lastModified: 1 });
  const answers = [];
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      answers.push(await uploadSlide(file, () => {}));
    } catch (error) {
      answers.push(`failed: ${error.status}`);
    }
  }
  return answers;
}"""


def test_chunks_are_retried_and_a_resend_sends_only_the_missing_ones(
    page: Any, slide_web_stack: WebStack
) -> None:
    """Chunk 1 gets a 503 once (retried), chunk 2 a 400 (the upload stops); the resend
    resumes from sessionStorage and sends only chunk 2 onwards."""
    puts: list[int] = []
    refused: set[int] = set()

    def chunk(route: Any) -> None:
        index = int(route.request.url.rsplit("/", 1)[1])
        puts.append(index)
        if index in (1, 2) and index not in refused:
            refused.add(index)
            route.fulfill(status=503 if index == 1 else 400, json={"detail": "refused"})
            return
        route.continue_()

    sign_in(page, slide_web_stack, path="/?next=/web/submit")
    page.route("**/v1/uploads/*/chunks/*", chunk)
    first, second = page.evaluate(RESUME_IN_PAGE, 4 * CHUNK_BYTES + 5)
    assert first == "failed: 400"
    assert puts == [0, 1, 1, 2, 2, 3, 4]  # the second call starts at the first missing chunk
    assert second and not second.startswith("failed")


SLIDE_RULE = """async (files) => {
  const { isSlide } = await import("/web/static/slides.js");
  return files.map(([name, size]) => isSlide({ name, size }, { max_image_bytes: 1000 }));
}"""


def test_scanner_formats_and_large_tiffs_are_slides(page: Any, slide_web_stack: WebStack) -> None:
    page.goto(slide_web_stack.url + "/")
    files = [
        ["scan.SVS", 10], ["scan.ndpi", 10], ["scan.mrxs", 10], ["scan.scn", 10],
        ["scan.bif", 10], ["big.tiff", 1001], ["big.TIF", 1001],
        ["tile.tif", 1000], ["tile.png", 10**6], ["notes.svs.txt", 10**6],
    ]  # fmt: skip
    assert page.evaluate(SLIDE_RULE, files) == [True] * 7 + [False] * 3
