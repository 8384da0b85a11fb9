"""Request body limit enforced while the body streams in, before any parsing."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _reason(limit: int) -> str:
    return f"request body is larger than the {limit}-byte limit"


class BodyTooLargeError(HTTPException):
    """Raised inside the receive channel when the body passes the limit: a 413, whether a
    route's form parsing meets it (FastAPI passes an HTTPException on as it is, and would
    turn any other error there into a 400) or the middleware below does."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _reason(limit), headers={"Connection": "close"})


def _too_large(limit: int) -> tuple[Message, Message]:
    body = json.dumps({"detail": _reason(limit)})
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
    }
    return start, {"type": "http.response.body", "body": body.encode()}


class BodyLimitMiddleware:
    """Answer 413 as soon as a request declares or sends more than `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            for message in _too_large(self.limit):
                await send(message)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLargeError(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:  # met where no exception handler answers it (a middleware)
            if not started:
                for message in _too_large(self.limit):
                    await send(message)
