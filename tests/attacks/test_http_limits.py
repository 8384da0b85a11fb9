"""Attacks below HTTP's application layer: huge or countless headers, slow heads, stalled
bodies. Each is refused or cut off in seconds while `/healthz` stays fast."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from core.settings import Settings
from tests.attacks.conftest import CLIENT_TIMEOUT_SECONDS, Target
from tests.attacks.intake import stored
from tests.integration.conftest import tile_bytes

DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
HEALTHZ_SECONDS = 1.0


def connect(target: Target) -> socket.socket:
    """Open a raw TCP connection to the gateway."""
    parts = urlsplit(target.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.settimeout(30)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (a reset counts as closed)."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def status_and_detail(answer: bytes) -> tuple[int, str]:
    """Return the status code and the JSON `detail` of a raw HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["detail"]


def headers_block(count: int) -> bytes:
    """Return a GET /healthz head with `count` headers in all, Host included."""
    extra = b"".join(b"X-Filler-%d: x\r\n" % i for i in range(count - 2))
    return b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + b"\r\n"


def test_a_header_just_over_the_limit_gets_431(target: Target) -> None:
    with connect(target) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
        sock.sendall(b"a" * (DEFAULTS.max_header_bytes + 1024))
        answer = read_answer(sock)
    status, detail = status_and_detail(answer)
    assert status == 431
    assert f"larger than {DEFAULTS.max_header_bytes} bytes" in detail


@pytest.mark.parametrize(("extra", "expected"), [(-1024, 200), (1024, 431)])
def test_a_whole_request_in_one_read_is_held_to_the_head_limit(
    target: Target, extra: int, expected: int
) -> None:
    value = b"a" * (DEFAULTS.max_header_bytes + extra)
    with connect(target) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: "
            + value
            + b"\r\n\r\n"
        )
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 %d" % expected), answer[:200]
    if expected == 431:
        assert f"larger than {DEFAULTS.max_header_bytes} bytes" in status_and_detail(answer)[1]


def test_a_long_url_with_no_header_in_one_read_gets_431(target: Target) -> None:
    path = b"/healthz?" + b"a" * (DEFAULTS.max_header_bytes + 1024)
    with connect(target) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")  # HTTP/1.0: no Host needed
        status, detail = status_and_detail(read_answer(sock))
    assert status == 431
    assert f"larger than {DEFAULTS.max_header_bytes} bytes" in detail


def stream_header(target: Target, sent: list[int], closed_after: list[float]) -> None:
    """Send up to 100 MiB of one header value, stopping when the gateway closes."""
    started = time.perf_counter()
    with connect(target) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
            chunk = b"a" * 2**20
            for _ in range(100):
                sock.sendall(chunk)
                sent[0] += len(chunk)
            sock.sendall(b"\r\n\r\n")
            read_answer(sock)
        except (BrokenPipeError, ConnectionResetError):
            pass
    closed_after.append(time.perf_counter() - started)


def test_a_100_mb_header_is_cut_off_while_healthz_stays_fast(target: Target) -> None:
    rss_before = target.rss()
    sent, closed_after = [0], []
    attacker = threading.Thread(target=stream_header, args=(target, sent, closed_after))
    attacker.start()
    probes = [target.healthz_seconds()]  # at least one, even when the cut-off comes first
    while attacker.is_alive():
        probes.append(target.healthz_seconds())
    attacker.join()
    assert closed_after[0] < 5.0
    assert sent[0] < 16 * 2**20  # what the socket buffers took before the close, not 100 MiB
    assert max(probes) < HEALTHZ_SECONDS
    assert target.rss() - rss_before < 20 * 2**20


def test_too_many_headers_get_431_and_the_limit_itself_is_served(target: Target) -> None:
    limit = DEFAULTS.max_header_count
    with connect(target) as sock:
        sock.sendall(headers_block(limit))
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
    with connect(target) as sock:
        sock.sendall(headers_block(limit + 1))
        status, detail = status_and_detail(read_answer(sock))
    assert status == 431
    assert detail == f"more than {limit} request headers"
    assert target.healthz_seconds() < HEALTHZ_SECONDS


def drip(sock: socket.socket, data: bytes, seconds: float) -> float:
    """Send `data` a byte at a time for up to `seconds`; return when the server closed."""
    started = time.perf_counter()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        if time.perf_counter() - started > seconds:
            break
        time.sleep(0.1)
    return time.perf_counter() - started


def test_a_slowloris_head_is_cut_off_after_the_header_timeout(target: Target) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"s" * 200 + b"\r\n\r\n"
    with connect(target) as sock:
        started = time.perf_counter()
        drip(sock, head, CLIENT_TIMEOUT_SECONDS + 5)
        answer = read_answer(sock)
        elapsed = time.perf_counter() - started
    status, detail = status_and_detail(answer)
    assert status == 408
    assert "headers not received within" in detail
    assert CLIENT_TIMEOUT_SECONDS - 0.5 < elapsed < CLIENT_TIMEOUT_SECONDS + 3
    assert target.healthz_seconds() < HEALTHZ_SECONDS


def test_a_slow_head_on_a_kept_alive_connection_is_cut_off_too(target: Target) -> None:
    with connect(target) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.perf_counter()
        drip(sock, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"x" * 200, CLIENT_TIMEOUT_SECONDS + 5)
        status, _ = status_and_detail(read_answer(sock))
        elapsed = time.perf_counter() - started
    assert status == 408
    assert elapsed < CLIENT_TIMEOUT_SECONDS + 3


def test_a_connection_that_sends_nothing_is_closed(target: Target) -> None:
    with connect(target) as sock:
        started = time.perf_counter()
        assert read_answer(sock) == b""
        assert time.perf_counter() - started < CLIENT_TIMEOUT_SECONDS + 3


def test_a_stalled_body_is_cut_off_and_stores_nothing(target: Target) -> None:
    blobs = target.blob_count()
    boundary = "b0undary"
    part = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=files; filename=a.png\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + b"\x89PNG\r\n\x1a\n"
    head = (
        "POST /v1/jobs HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: Bearer {target.keys['lab']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    with connect(target) as sock:
        sock.sendall(head + part)  # then nothing more: the body stalls
        started = time.perf_counter()
        answer = read_answer(sock)
        elapsed = time.perf_counter() - started
    status, detail = status_and_detail(answer)
    assert status == 408
    assert "request body paused for more than" in detail
    assert CLIENT_TIMEOUT_SECONDS - 0.5 < elapsed < CLIENT_TIMEOUT_SECONDS + 3
    assert target.blob_count() == blobs
    assert target.healthz_seconds() < HEALTHZ_SECONDS


def test_pipelined_and_kept_alive_requests_are_still_served(target: Target) -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(target) as sock:
        sock.sendall(one * 3 + b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert read_answer(sock).count(b"HTTP/1.1 200 OK") == 4
    with target.client() as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(CLIENT_TIMEOUT_SECONDS / 2)  # idle between requests is not a slow head


def test_a_streamed_upload_over_the_body_limit_is_413_and_stores_nothing(target: Target) -> None:
    # No Content-Length (chunked): the limit is met while the form is parsed, not declared.
    tile = tile_bytes(19)
    boundary = "inferq-limit"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'

    def body() -> Iterator[bytes]:
        yield (head + "Content-Type: image/png\r\n\r\n").encode() + tile
        for _ in range(40):  # 40 MiB inside one part: past the 32 MiB limit
            yield b"\0" * 2**20
        yield f"\r\n--{boundary}--\r\n".encode()

    before = stored(target)
    with target.client() as client:
        response = client.post(
            "/v1/jobs",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413, response.text[:300]
    assert "larger than the" in response.json()["detail"]
    assert stored(target) == before
    assert target.healthz_seconds() < 1.0
