"""One webhook POST against a real loopback receiver: signed, pinned, bounded, no redirects."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import timedelta

from core.settings import Settings
from core.webhook_target import AllowList, check_target
from db.models import utc_now
from db.webhook_outbox import DueEvent
from tests.webhook_receiver import receiving, verify
from worker.webhook_post import post_event, sign, signed_headers
from worker.webhooks import retry_time

SECRET = "whsec_test"
LOOPBACK = AllowList.parse("127.0.0.1")


def send(url: str, timeout: float = 2.0) -> tuple[int | None, str | None, float]:
    body = b'{"id":"e1"}'
    result = post_event(
        check_target(url, LOOPBACK), body, signed_headers("e1", SECRET, body), timeout
    )
    return result.status_code, result.error, result.duration_ms


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    assert verify(SECRET, str(int(time.time())), b"{}", sign(SECRET, int(time.time()), b"{}"))
    assert not verify(SECRET, str(int(time.time())), b"{} ", sign(SECRET, int(time.time()), b"{}"))
    stale = int(time.time()) - 3600
    assert not verify(SECRET, str(stale), b"{}", sign(SECRET, stale, b"{}"))


def test_a_receiver_gets_a_verifiable_post_and_redirects_are_not_followed() -> None:
    with receiving(SECRET, {"/hook": ["ok"], "/moved": ["redirect"]}) as receiver:
        assert send(f"{receiver.url}/hook")[:2] == (200, None)
        status, error, _ = send(f"{receiver.url}/moved")
        assert status == 307 and error is not None and "not followed" in error
        assert [r.path for r in receiver.received] == ["/hook", "/moved"]  # not /elsewhere
        assert all(r.verified for r in receiver.received)


def test_a_slow_receiver_is_cut_off_at_the_timeout() -> None:
    with receiving(SECRET, {"/slow": ["slow"]}) as receiver:
        receiver.slow_seconds = 5
        status, error, ms = send(f"{receiver.url}/slow", timeout=0.5)
    assert status is None and error is not None and "no answer within 0.5 s" in error
    assert ms < 2000


def test_a_trickling_receiver_is_cut_off_at_the_timeout_too() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(40):  # a header byte every 0.1 s: each read is quick, the whole is not
            time.sleep(0.1)
            try:
                connection.sendall(b"X")
            except OSError:
                break
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    status, error, ms = send(f"http://127.0.0.1:{port}/x", timeout=1.0)
    listener.close()
    assert status is None and error is not None
    assert ms < 2500


def test_retries_back_off_exponentially_with_jitter_until_the_window_closes() -> None:
    settings = Settings(webhook_backoff_seconds=10)
    now = utc_now()

    def event(attempts: int, window: float) -> DueEvent:
        return DueEvent(uuid.uuid4(), "u", {}, SECRET, attempts, now + timedelta(seconds=window))

    for attempts, low, high in [(0, 5, 10), (1, 10, 20), (3, 40, 80)]:
        delays = {(retry_time(event(attempts, 1e6), settings, now) or now) - now for _ in range(20)}
        assert all(timedelta(seconds=low) <= d <= timedelta(seconds=high) for d in delays)
        assert len(delays) > 1  # jittered
    assert retry_time(event(0, 4), settings, now) is None  # past the window: failed
