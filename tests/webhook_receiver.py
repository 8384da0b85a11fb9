"""A webhook receiver on loopback for the tests: it verifies signatures the way the README
tells receivers to, and answers each request as its script says."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300
) -> bool:
    """The README's receiver check: fresh timestamp, HMAC-SHA256 over "<timestamp>.<body>"."""
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(f"v1={expected.hexdigest()}", signature)


@dataclass
class Received:
    """One request the receiver got and how it answered."""

    path: str
    event_id: str
    body: bytes
    verified: bool
    answer: str


@dataclass
class Receiver:
    """Scripted answers per path (`fail`, `slow`, `redirect`, `ok`; the last one repeats)."""

    secret: str
    scripts: dict[str, list[str]]
    port: int = 0
    received: list[Received] = field(default_factory=list)
    slow_seconds: float = 3.0

    @property
    def url(self) -> str:
        """Return the receiver's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def next_answer(self, path: str) -> str:
        """Return how to answer the next request to a path."""
        script = self.scripts.get(path, ["ok"])
        return script.pop(0) if len(script) > 1 else script[0]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Record a request and answer it as scripted."""
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        headers = request.headers
        verified = verify(
            self.secret,
            headers.get("Inferq-Timestamp", "0"),
            body,
            headers.get("Inferq-Signature", ""),
        )
        answer = self.next_answer(request.path)
        event_id = headers.get("Inferq-Event-Id", "")
        self.received.append(Received(request.path, event_id, body, verified, answer))
        if answer == "slow":
            time.sleep(self.slow_seconds)
        code = {"fail": 500, "redirect": 307}.get(answer, 200)
        with contextlib.suppress(OSError):  # a slow answer's sender may have hung up
            request.send_response(code)
            if answer == "redirect":
                request.send_header("Location", f"{self.url}/elsewhere")
            request.send_header("Content-Length", "2")
            request.end_headers()
            request.wfile.write(b"ok")

    def delivered(self, path: str) -> list[Received]:
        """Return the verified requests to a path answered 200 at once (a slow answer comes
        after the sender gave up)."""
        return [r for r in self.received if r.path == path and r.verified and r.answer == "ok"]


@contextmanager
def receiving(secret: str, scripts: dict[str, list[str]]) -> Iterator[Receiver]:
    """Run a receiver on a free loopback port until the block ends."""
    receiver = Receiver(secret, scripts)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
