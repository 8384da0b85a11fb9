"""Read one chunk of a resumable upload: exactly its expected length, charged to the budget.

A declared Content-Length may only refuse a chunk early; the bytes counted as they arrive
decide. Reading stops one piece past the expected length, so a body larger than declared
never fills memory, and a gateway process reads at most INFERQ_MAX_CHUNKS_IN_FLIGHT chunk
bodies at once, so many clients together cannot either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, Request, status
from starlette.requests import ClientDisconnect

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
    try:
        async for piece in request.stream():
            budget.receive(f"chunk {index}", len(piece))
            body += piece
            if len(body) > expected:
                raise too_long(index, expected)
    except ClientDisconnect:  # nobody reads the answer; it is logged as a 400, not a 500
        raise RefusedError(
            status.HTTP_400_BAD_REQUEST, f"the client left before chunk {index} was complete"
        ) from None
    if len(body) != expected:
        raise too_short(index, expected, len(body))
    return bytes(body)


RETRY_SECONDS = 1


class ChunkSlots:
    """How many chunk bodies this process may hold at once; taken on the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while the block runs, or refuse with 429 when none is free."""
        if self.taken >= self.limit:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"{self.limit} chunks are being received already; retry shortly",
                headers={"Retry-After": str(RETRY_SECONDS)},
            )
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1
