"""One signed webhook POST to a vetted target: pinned addresses, no redirects, small reads.

Signature: `Inferq-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with the
Unix time in `Inferq-Timestamp`; the README shows how a receiver checks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import socket
import ssl
import threading
import time

from core.webhook_target import Target
from db.webhook_outbox import AttemptResult

MAX_RESPONSE_BYTES = 4096  # the answer is only logged: a receiver cannot make us read more
USER_AGENT = "inferq-webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for a body sent at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(event_id: str, secret: str, body: bytes) -> dict[str, str]:
    """Return the headers of one attempt: content type, event ID, timestamp, signature."""
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Inferq-Event-Id": event_id,
        "Inferq-Timestamp": str(timestamp),
        "Inferq-Signature": sign(secret, timestamp, body),
    }


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one vetted address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one vetted address; the certificate is checked for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def open_connection(target: Target, address: str, timeout: float) -> http.client.HTTPConnection:
    """Return an unopened connection to one of the target's vetted addresses."""
    kind = PinnedHTTPSConnection if target.scheme == "https" else PinnedHTTPConnection
    return kind(target.host, target.port, address, timeout)


def cut(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    """Shut a connection's socket down, waking a read blocked on it; note that it was cut."""
    fired.set()
    if connection.sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing to wake
            connection.sock.shutdown(socket.SHUT_RDWR)


def post_event(
    target: Target, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptResult:
    """POST a body to the target's first vetted address; never follow a redirect.

    `timeout` bounds the whole attempt, not each read: a receiver that trickles bytes is
    cut off like one that never answers.
    """
    started = time.perf_counter()
    connection = open_connection(target, target.addresses[0], timeout)
    fired = threading.Event()
    watchdog = threading.Timer(timeout, cut, args=(connection, fired))
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status, error = response.status, None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
    except TimeoutError:
        status, error = None, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    finally:
        watchdog.cancel()
        connection.close()
    if fired.is_set():  # whatever was read before the cut, the answer did not come in time
        status, error = None, f"no answer within {timeout:g} s"
    return AttemptResult(status, error, (time.perf_counter() - started) * 1000.0)
