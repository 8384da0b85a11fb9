"""Read a whole submission request: its manifest, then its files, against one budget."""

from __future__ import annotations

from fastapi import HTTPException, UploadFile, status

from core.settings import Settings
from core.storage import BlobStore
from gateway.intake.budget import RequestBudget
from gateway.intake.manifest import ParsedManifest, read_manifest
from gateway.intake.uploads import Intake, take_files

Gathered = tuple[Intake, ParsedManifest | None]  # a request's files and manifest, read


def refuse_if_empty(intake: Intake) -> None:
    """Raise 400, 413 or 415 when no part of the upload is an acceptable image."""
    if not intake.items:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files in the upload")
    if intake.accepted:
        return
    reasons = "; ".join(f"{item.filename}: {item.error}" for item in intake.refused[:20])
    code = (
        status.HTTP_413_CONTENT_TOO_LARGE
        if intake.oversized == len(intake.items)
        else status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    )
    raise HTTPException(code, f"no acceptable image in the upload: {reasons}")


def read_request(
    files: list[UploadFile],
    manifest: UploadFile | None,
    *,
    settings: Settings,
    store: BlobStore,
) -> Gathered:
    """Read the manifest, check and store the files; refuse a request with nothing usable.

    The manifest is read and checked before any file is stored, and every archive before
    its first member is, so a refused request leaves nothing behind.
    """
    if len(files) > settings.max_files_per_request:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{len(files)} files in one request; the limit is {settings.max_files_per_request}",
        )
    budget = RequestBudget.from_settings(settings)
    parsed = read_manifest(manifest, budget)
    if not files and parsed is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "no files and no manifest in the request")
    intake = take_files(files, budget, settings=settings, store=store)
    if files:
        refuse_if_empty(intake)
    return intake, parsed
