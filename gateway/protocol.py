"""The HTTP/1.1 protocol the gateway is served with: uvicorn's httptools protocol, bounded.

Left alone, uvicorn buffers a request head of any size (a 100 MB header took seconds of the
event loop, stalling every other client's `/healthz`) and waits for a slow client forever.
Here the head (request line and headers) is refused with 431 once it passes
`max_header_bytes` or has more than `max_header_count` headers: counted on the bytes as they
arrive, before httptools buffers them, and again on the parsed URL and headers, so a whole
request that arrives in one read is held to the same limit; a head must arrive whole within
`header_timeout_seconds` of the connection (or of the request's first byte on a kept-alive
connection), and a body may pause for at most `body_timeout_seconds` between two pieces,
else 408. Each refusal closes the connection. Select it with
`uvicorn.run(..., http=PROTOCOL)`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from core.settings import get_settings

PROTOCOL = "gateway.protocol:GuardedHttpProtocol"

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class HeadRefusedError(Exception):
    """Raised from the parser's URL or header callback past the header count or head size."""


def error_response(status: int, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """Return a whole HTTP/1.1 answer with a JSON `detail`, closing the connection."""
    body = json.dumps({"detail": detail}).encode()
    lines = [b"HTTP/1.1 %d %s" % (status, REASONS[status])]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits and read timeouts."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.max_headers = settings.max_header_count
        self.header_timeout = settings.header_timeout_seconds
        self.body_timeout = settings.body_timeout_seconds
        self.reading_head = True  # between one request's end and the next one's headers
        self.counting = True  # whether the chunk being parsed began inside the head
        self.head_bytes = 0
        self.header_count = 0
        self.parsed_bytes = 0  # the request line's URL and the headers parsed so far
        self.too_many_headers = False
        self.head_too_large = False
        self.last_body_at = 0.0
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self.arm(self.header_timeout, self.head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self.disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse, then refuse a head that has grown past the limit."""
        self.counting = self.reading_head
        super().data_received(data)
        if self.reading_head and self.counting:
            # A chunk in which a head began after a body is not counted: the limit may be
            # passed by at most one read (256 KiB) before the refusal, never more.
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head_bytes:
                self.refuse_large_head()

    def refuse_large_head(self) -> None:
        """Answer 431 for a head past `max_head_bytes`."""
        self.refuse(431, f"request line and headers are larger than {self.max_head_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        """Answer 431 when the parser stopped at a head limit, else uvicorn's 400."""
        if self.too_many_headers:
            self.refuse(431, f"more than {self.max_headers} request headers")
            return
        if self.head_too_large:
            self.refuse_large_head()
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        """Start the clock for a head on a kept-alive connection."""
        super().on_message_begin()
        self.header_count = 0
        self.parsed_bytes = 0
        if self.deadline is None:
            self.arm(self.header_timeout, self.head_timed_out)

    def on_url(self, url: bytes) -> None:
        """Count the URL into the head's size (a request may have no header at all)."""
        self.count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the header and its size; stop the parser past either limit."""
        self.header_count += 1
        if self.header_count > self.max_headers:
            self.too_many_headers = True
            raise HeadRefusedError
        self.count_parsed(len(name) + len(value) + 4)  # ": " and the line's end
        super().on_header(name, value)

    def count_parsed(self, size: int) -> None:
        """Add parsed head bytes; stop the parser past the head limit."""
        self.parsed_bytes += size
        if self.parsed_bytes > self.max_head_bytes:
            self.head_too_large = True
            raise HeadRefusedError

    def on_headers_complete(self) -> None:
        """Stop the head clock; start the body's."""
        self.reading_head = False
        self.head_bytes = 0
        self.last_body_at = self.loop.time()
        self.arm(self.body_timeout, self.body_stalled)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Note that the body moves."""
        self.last_body_at = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        """Stop the body clock; whatever follows in this chunk belongs to the next head."""
        self.disarm()
        self.reading_head = True
        self.counting = False
        super().on_message_complete()

    def arm(self, seconds: float, callback: Callable[[], None]) -> None:
        """Call `callback` after `seconds` unless disarmed first."""
        self.disarm()
        self.deadline = self.loop.call_later(seconds, callback)

    def disarm(self) -> None:
        """Cancel the pending deadline."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def head_timed_out(self) -> None:
        """Close a connection whose head did not arrive in time (408 if it began)."""
        self.deadline = None
        if self.head_bytes or self.cycle is not None:
            self.refuse(408, f"request headers not received within {self.header_timeout:g} s")
        elif not self.transport.is_closing():
            self.transport.close()  # a connection that never sent a byte

    def body_stalled(self) -> None:
        """Close a connection whose body paused too long; time we stopped reading is free."""
        now = self.loop.time()
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            self.last_body_at = now  # the app is behind (or has not asked), not the client
        idle = now - self.last_body_at
        if idle < self.body_timeout:
            self.arm(self.body_timeout - idle, self.body_stalled)
            return
        self.deadline = None
        self.refuse(408, f"request body paused for more than {self.body_timeout:g} s")

    def refuse(self, status: int, detail: str) -> None:
        """Answer `status` unless a response is already on the wire, then close."""
        self.disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.reading_head:  # the refused request has no cycle; an earlier one may write
            answer = cycle is None or cycle.response_complete
        else:
            answer = not cycle.response_started
            if not cycle.response_complete:
                cycle.disconnected = True  # the app's receive() sees a disconnect
                cycle.message_event.set()
        if answer:
            self.logger.info("refused %s: %d %s", self.client, status, detail)
            default_headers = self.server_state.default_headers
            self.transport.write(error_response(status, detail, default_headers))
        self.transport.close()
