"""The web page's documents: one static HTML shell a page; the data comes from the API.

The shells hold no data, so they need no key: each page's script reads the key from the
browser session and calls `/v1/...` with it, and a page without a key goes to sign-in.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).parent
TEMPLATES = WEB / "templates"
STATIC_URL = "/web/static"
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def page(name: str) -> FileResponse:
    """Return a page's HTML shell."""
    return FileResponse(TEMPLATES / f"{name}.html", media_type="text/html", headers=NO_CACHE)


@router.get("/")
async def sign_in_page() -> FileResponse:
    """Sign in with an API key."""
    return page("signin")


@router.get("/web/submit")
async def submit_page() -> FileResponse:
    """Send files, a folder or an archive as one job."""
    return page("submit")


@router.get("/web/jobs")
async def jobs_page() -> FileResponse:
    """The tenant's jobs."""
    return page("jobs")


@router.get("/web/jobs/{job_id}")
async def job_page(job_id: uuid.UUID) -> FileResponse:
    """One job: progress, results, per-patient summary and downloads."""
    return page("job")


@router.get("/web/operations")
async def operations_page() -> FileResponse:
    """Live figures, the last hour's chart and the served model's card."""
    return page("operations")


def mount_web(app: FastAPI) -> None:
    """Serve the pages and their bundled scripts, styles and icons."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=WEB / "static"), name="web-static")
