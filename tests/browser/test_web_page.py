"""The web page in a real browser: sign in, send a folder, follow the job, read and download
its results, a hostile file name, another tenant, operations and the API docs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.browser.conftest import WebStack, screenshot
from tests.integration.conftest import tile_bytes

HOSTILE = "<img src=x onerror=alert(1)>.png"
N_TILES = 30
FINAL = ("succeeded", "partially_failed", "failed", "cancelled")


class Watched:
    """A page with what it logged: console errors, dialogs, requests to other hosts."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.exceptions: list[str] = []  # uncaught in the page's scripts
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        host = urlparse(url).netloc
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.exceptions.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on(
            "request",
            lambda r: (
                urlparse(r.url).scheme in ("http", "https")
                and urlparse(r.url).netloc != host
                and self.foreign.append(r.url)
            ),
        )

    def policy_violations(self) -> list[str]:
        return [text for text in self.errors if "Content Security Policy" in text]

    def clean(self) -> bool:
        """Return whether no script failed, nothing was refused and nothing left the host."""
        return not (self.exceptions or self.policy_violations() or self.foreign)


@pytest.fixture
def watched(browser_context: Any, web_stack: WebStack) -> Iterator[Watched]:
    """A new tab (its own sessionStorage), closed after the test."""
    page = browser_context.new_page()
    yield Watched(page, web_stack.url)
    page.close()


def sign_in(page: Any, stack: WebStack, tenant: str = "lab", path: str = "/") -> None:
    page.goto(stack.url + path)
    page.fill("#key", stack.keys[tenant])
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(re.compile(r".*/web/.*"))
    page.wait_for_selector(f"#tenant:text-is('{tenant}')")


def tile_folder(root: Path) -> Path:
    """A scanner folder: tiles of 3 patients, a hostile name, a log file, its manifest."""
    folder = root / "scan"
    folder.mkdir()
    rows = ["filename,label,patient_id"]
    for index in range(N_TILES):
        name = f"P{index % 3:04d}_{index:03d}.png"
        (folder / name).write_bytes(tile_bytes(index))
        rows.append(f"{name},,P{index % 3:04d}")
    (folder / HOSTILE).write_bytes(tile_bytes(999))
    (folder / "scan.log").write_text("scanner log, not an image\n")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def sent_job(
    browser_context: Any, web_stack: WebStack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Send a folder through the submit page; return the job ID and what the page showed."""
    page = browser_context.new_page()
    watched = Watched(page, web_stack.url)
    sign_in(page, web_stack, path="/?next=/web/submit")
    page.set_input_files("#folder", str(tile_folder(tmp_path_factory.mktemp("tiles"))))
    page.wait_for_selector("#chosen:has-text('32 files')")  # the manifest is taken apart
    page.click("#send")
    page.wait_for_selector("#job-link", timeout=60_000)
    outcome = {
        "job_id": page.inner_text("#job-link"),
        "line": page.inner_text("#job-line"),
        "lists": page.inner_text("#lists"),
        "progress": page.eval_on_selector("#progress", "bar => bar.value"),
        "clean": watched.clean(),
        "dialogs": watched.dialogs,
    }
    screenshot(page, "submit")
    page.close()
    return outcome


def open_finished_job(page: Any, stack: WebStack, job_id: str) -> None:
    sign_in(page, stack, path=f"/?next=/web/jobs/{job_id}")
    finals = ", ".join(f"#job-status .status-{status}" for status in FINAL)
    page.wait_for_selector(finals, timeout=120_000)
    page.wait_for_selector("#results tbody tr")


def test_sign_in_shows_the_tenant_and_sign_out_forgets_the_key(
    watched: Watched, web_stack: WebStack
) -> None:
    page = watched.page
    page.goto(web_stack.url + "/web/jobs")
    page.wait_for_url(re.compile(r".*/\?next=%2Fweb%2Fjobs$"))  # no key: sign in first
    page.fill("#key", "iq_not-a-key")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#message .error:has-text('unknown or revoked')")
    screenshot(page, "signin")
    sign_in(page, web_stack)
    assert page.evaluate("sessionStorage.getItem('inferq.key')") == web_stack.keys["lab"]
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
    assert web_stack.keys["lab"] not in page.url
    page.click("#sign-out")
    page.wait_for_url(web_stack.url + "/")
    assert page.evaluate("sessionStorage.getItem('inferq.key')") is None
    page.goto(web_stack.url + "/web/operations")
    page.wait_for_url(re.compile(r".*/\?next=.*"))
    assert watched.clean(), (watched.exceptions, watched.errors, watched.foreign)


def test_a_folder_goes_up_in_several_requests_into_one_job(sent_job: dict[str, Any]) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", sent_job["job_id"])
    assert sent_job["line"].startswith(f"{N_TILES + 1} images queued in ")
    assert 3 <= int(sent_job["line"].split(" in ")[1].split()[0]) <= 5  # several requests
    assert "scan.log: " in sent_job["lists"]  # the API's rejected list, shown
    assert sent_job["progress"] == 1
    assert sent_job["clean"] and sent_job["dialogs"] == []


def test_the_job_finishes_and_its_results_sort_filter_and_download(
    watched: Watched, web_stack: WebStack, sent_job: dict[str, Any]
) -> None:
    page = watched.page
    open_finished_job(page, web_stack, sent_job["job_id"])
    assert page.inner_text("#job-status") in FINAL
    rows = page.locator("#results tbody tr")
    assert rows.count() == N_TILES + 2  # the tiles, the hostile name and the refused log
    page.click("#results th button[data-key=probability]")
    page.click("#results th button[data-key=probability]")  # descending
    shown = [
        float(text) for text in page.locator("#results td.probability").all_inner_texts() if text
    ]
    assert shown == sorted(shown, reverse=True) and len(shown) == N_TILES + 1
    loaded = "[...document.querySelectorAll('#results img.thumb')].filter(i => i.naturalWidth)"
    page.wait_for_function(f"{loaded}.length > 5")
    label = page.locator("#results td.label").first.inner_text()
    page.select_option("#label-filter", label)
    assert set(page.locator("#results td.label").all_inner_texts()) == {label}
    page.select_option("#label-filter", "")
    page.select_option("#status-filter", "failed")
    assert page.locator("#results td.name").all_inner_texts() == ["scan/scan.log"]
    page.select_option("#status-filter", "")
    page.locator("#results").scroll_into_view_if_needed()
    screenshot(page, "results")
    page.evaluate("window.scrollTo(0, 0)")

    patients = page.locator("#summary tbody tr")
    assert patients.count() == 4  # P0000, P0001, P0002 and the images without a patient
    called = page.locator("#summary tr[data-status=called] td.call").all_inner_texts()
    assert len(called) == 3 and all(called)
    screenshot(page, "job")

    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(table) == N_TILES + 2 and f"scan/{HOSTILE}" in {row["filename"] for row in table}
    with page.expect_download() as summary:
        page.click("#download-summary-csv")
    assert summary.value.suggested_filename.endswith("-summary.csv")
    assert watched.clean(), (watched.exceptions, watched.errors, watched.foreign)


def test_a_hostile_file_name_shows_as_text(
    watched: Watched, web_stack: WebStack, sent_job: dict[str, Any]
) -> None:
    page = watched.page
    open_finished_job(page, web_stack, sent_job["job_id"])
    page.fill("#name-filter", "onerror")
    cell = page.locator("#results td.name")
    assert cell.all_inner_texts() == [f"scan/{HOSTILE}"]  # the folder's name kept
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("document.body.innerHTML.includes('<img src=x')") is False
    assert watched.dialogs == [] and watched.clean()


def test_another_tenant_cannot_reach_the_job(
    watched: Watched, web_stack: WebStack, sent_job: dict[str, Any]
) -> None:
    page = watched.page
    job_id = sent_job["job_id"]
    sign_in(page, web_stack, "other", path=f"/?next=/web/jobs/{job_id}")
    page.wait_for_selector("#message .error")
    assert "not found (HTTP 404)" in page.inner_text("#message")
    assert page.locator("#results tbody tr").count() == 0
    thumbnail = page.evaluate(
        """async (job) => (await fetch(`/v1/jobs/${job}/results`, {headers: {Authorization:
        `Bearer ${sessionStorage.getItem('inferq.key')}`}})).status""",
        job_id,
    )
    assert thumbnail == 404
    page.goto(web_stack.url + "/web/jobs")
    page.wait_for_selector("#jobs tbody tr")
    assert job_id not in page.inner_text("#jobs")
    assert watched.exceptions == []


def test_the_jobs_list_filters_by_status(
    watched: Watched, web_stack: WebStack, sent_job: dict[str, Any]
) -> None:
    page = watched.page
    job_id = sent_job["job_id"]
    sign_in(page, web_stack, path="/?next=/web/jobs")
    page.wait_for_selector(f"#jobs tr[data-job='{job_id}']")
    page.select_option("#status", "failed")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#jobs td:text-is('No jobs.')")
    page.select_option("#status", "partially_failed")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(f"#jobs tr[data-job='{job_id}']")
    screenshot(page, "jobs")
    page.click(f"#jobs a:text-is('{job_id}')")
    page.wait_for_url(f"**/web/jobs/{job_id}")


def test_operations_show_figures_a_chart_and_the_model(
    watched: Watched, web_stack: WebStack, sent_job: dict[str, Any]
) -> None:
    page = watched.page
    sign_in(page, web_stack, path="/?next=/web/operations")
    page.wait_for_selector("#figures dd")
    page.wait_for_selector("#throughput-chart svg rect")
    page.wait_for_selector("#latency-chart svg circle.mean")
    page.wait_for_selector("#model:has-text('benign, malignant')")
    assert "Images succeeded" in page.inner_text("#figures")
    screenshot(page, "operations")
    assert watched.clean(), (watched.exceptions, watched.errors, watched.foreign)


@pytest.mark.parametrize(
    ("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")]
)
def test_api_docs_render_offline_under_their_policy(
    watched: Watched, web_stack: WebStack, path: str, ready: str
) -> None:
    page = watched.page
    response = page.goto(web_stack.url + path)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.wait_for_selector(ready, timeout=30_000)
    assert "inferq" in page.inner_text(ready)
    # ReDoc's footer logo is a CDN image: the policy blocks it, as it should, and nothing
    # else of either page is refused.
    refused = [text for text in watched.policy_violations() if "cdn.redoc.ly" not in text]
    assert refused == [] and [url for url in watched.foreign if "cdn.redoc.ly" not in url] == []
