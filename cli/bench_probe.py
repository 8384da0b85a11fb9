"""The bench's /healthz watch: a prober process timing the gateway's probe, and a bare
server beside it, while a load runs."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event as EventType

import httpx

PROBE_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 30.0  # for the bare server to listen


class BareHandler(BaseHTTPRequestHandler):
    """Answers every GET with 200 at once: nothing but the machine stands between a probe
    and its answer."""

    protocol_version = "HTTP/1.1"  # keep the prober's connection, as the gateway does

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def serve_bare(port: Synchronized[int]) -> None:
    """Serve BareHandler on a free loopback port (written to `port`) until terminated."""
    server = HTTPServer(("127.0.0.1", 0), BareHandler)
    port.value = server.server_port
    server.serve_forever()


def probe(client: httpx.Client, url: str) -> float:
    """Return how long one GET took in ms (the whole timeout when it failed)."""
    started = time.perf_counter()
    try:
        client.get(url).raise_for_status()
    except httpx.HTTPError:  # no answer, or an error: as slow as the whole timeout
        return PROBE_TIMEOUT_SECONDS * 1000
    return (time.perf_counter() - started) * 1000


def probe_urls(
    urls: tuple[str, str], stop: EventType, slowest_ms: SynchronizedArray[float]
) -> None:
    """Time GET on each URL every 100 ms until `stop` is set, keeping each one's slowest."""
    with httpx.Client(timeout=PROBE_TIMEOUT_SECONDS) as client:
        while not stop.wait(0.1):
            for index, url in enumerate(urls):
                slowest_ms[index] = max(slowest_ms[index], probe(client, url))


@dataclass(frozen=True)
class Slowest:
    """The slowest answers of one watch: the gateway's /healthz, and a bare server's."""

    healthz_ms: float
    bare_ms: float


class HealthzWatch:
    """Times GET /healthz every 100 ms while a load runs, from a process of its own: a
    thread of the bench would wait on its load generators' GIL, not on the gateway.

    A bare HTTP server in another process (BareHandler) is timed by the same prober right
    after each /healthz answer. Its slowest answer is what the prober and the machine add
    to any answer: a lower bound of the scheduler's part, since an idle process is woken
    sooner than a busy one like the gateway.
    """

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._slowest = context.Array("d", 2)
        self._port = context.Value("i", 0)
        self._bare = context.Process(target=serve_bare, args=(self._port,), daemon=True)
        self._url = url + "/healthz"
        self._process: SpawnProcess | None = None
        self._context = context

    def start(self) -> None:
        """Start the bare server and the prober; return once both answered once."""
        self._bare.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._port.value and self._bare.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._port.value:
            raise RuntimeError("the bare server beside /healthz did not start")
        urls = (self._url, f"http://127.0.0.1:{self._port.value}/")
        self._process = self._context.Process(
            target=probe_urls, args=(urls, self._stop, self._slowest), daemon=True
        )
        self._process.start()
        while not all(self._slowest[:]) and self._process.is_alive():
            time.sleep(0.02)

    def stop(self) -> Slowest:
        """Stop probing and the bare server; return the slowest answers."""
        self._stop.set()
        if self._process is not None:  # started
            self._process.join(timeout=PROBE_TIMEOUT_SECONDS + 5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
        if self._bare.is_alive():
            self._bare.terminate()
            self._bare.join(timeout=5)
        return Slowest(float(self._slowest[0]), float(self._slowest[1]))
