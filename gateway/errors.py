"""Documented error answers, so the OpenAPI schema says what each status code means."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.commands import command_hint
from gateway.schemas import ErrorResponse

logger = logging.getLogger(__name__)

_MEANINGS = {
    400: (
        "The request is malformed: not multipart, too many file parts or fields, a part "
        "header too long, a part sent twice that a route takes once (`file`, `manifest`, "
        "`close`, `priority`, `callback_url`), "
        "a cursor that is not a `next_cursor` the API returned, an unusable manifest (one "
        "with a NUL byte too), or (listing jobs) ids that are not job IDs, more than 100 of "
        "them, or an unknown query parameter; a JSON body that does not parse."
    ),
    401: (
        "No `Authorization: Bearer <key>` header, or the key is unknown or revoked "
        f"(make one with {command_hint('keys create --tenant NAME')}, with "
        "INFERQ_DATABASE_URL set to the gateway's database)."
    ),
    403: (
        "An operator view (workers, hosts): the key's tenant is not one of "
        "INFERQ_OPERATOR_TENANTS; or a slide named outside the prefixes INFERQ_SLIDE_SOURCES "
        "allows the tenant."
    ),
    404: "No such job (or no such event of it); another tenant's job gets the same answer.",
    409: (
        "The job is closed or cancelled: no more files may be added to it; or a slide's "
        "outputs were asked for before the slide succeeded (its status and error say why)."
    ),
    413: (
        "The body, or one file in it, is larger than the configured limit; the request's "
        "archives together have too many members or expand too far; a member expands too "
        "many times, or zip entries overlap (compression bombs); a tar header is too large; "
        "or the manifest has too many rows. The message names the archive and member."
    ),
    415: "No part of the upload is an image this service accepts (each reason is given).",
    422: (
        "A parameter is invalid; an archive member has an absolute path, `..` (even hidden "
        "by invisible characters), or is a link or device; an Idempotency-Key was reused "
        "for another operation or with another body (other files, file names or fields); "
        "a `callback_url` that is not https, resolves to a loopback, private, link-local, "
        "multicast, reserved or metadata address (unless an operator allows it), or whose "
        "tenant has no webhook secret; "
        "or (for /predict) "
        "the image could not be classified."
    ),
    429: (
        "Backpressure: the tenant's requests a minute, its images queued or running, the "
        "service-wide queue, or (for /predict) this gateway's waiting calls are at their "
        "limit. Nothing was read or stored; retry after the Retry-After seconds."
    ),
    503: "The database (or, for /readyz, the broker) is unreachable; retry after Retry-After.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI `responses=` entries describing the given error codes."""
    return {code: {"model": ErrorResponse, "description": _MEANINGS[code]} for code in codes}


def describe_problem(error: dict[str, Any]) -> str:
    """Return 'where: what' for one validation error (`loc` is like ('query', 'limit'))."""
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a request FastAPI could not validate with one sentence, like every error."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = "; ".join(describe_problem(error) for error in errors[:10]) or str(exc)
    return JSONResponse(
        {"detail": f"invalid request: {problems}"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def database_unreachable(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a request whose database call failed for an outage with 503, not 500."""
    logger.warning("database unreachable during a request: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "the database is unreachable; retry later"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )
