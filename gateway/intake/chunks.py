"""Read one chunk of a resumable upload: exactly its expected length, charged to the budget.

A declared Content-Length may only refuse a chunk early; the bytes counted as they arrive
decide. Reading stops one piece past the expected length, so a body larger than declared
never fills memory.
"""

from __future__ import annotations

from fastapi import Request, status

from gateway.intake.budget import RefusedError, RequestBudget


def too_long(index: int, expected: int) -> RefusedError:
    """Return the 413 for a chunk body longer than its index takes."""
    return RefusedError(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"chunk {index} must be exactly {expected} bytes; the body is longer",
    )


def too_short(index: int, expected: int, got: int) -> RefusedError:
    """Return the 422 for a chunk body shorter than its index takes."""
    return RefusedError(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"chunk {index} must be exactly {expected} bytes; the body has {got}",
    )


def check_declared(request: Request, index: int, expected: int) -> None:
    """Refuse early a chunk whose Content-Length is not its expected length."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return
    if int(declared) > expected:
        raise too_long(index, expected)
    if int(declared) < expected:
        raise too_short(index, expected, int(declared))


async def read_chunk(request: Request, index: int, expected: int, budget: RequestBudget) -> bytes:
    """Return the request body if it is exactly `expected` bytes, else refuse it."""
    check_declared(request, index, expected)
    body = bytearray()
    async for piece in request.stream():
        budget.receive(f"chunk {index}", len(piece))
        body += piece
        if len(body) > expected:
            raise too_long(index, expected)
    if len(body) != expected:
        raise too_short(index, expected, len(body))
    return bytes(body)
