"""Load generators for `inferq bench`, cheap enough not to be the bottleneck.

`/predict` is driven by `wrk` (Debian's package) when it is installed, else by client
processes; single-image jobs by client processes running asyncio clients on raw keep-alive
connections (cli.raw_http), each process waiting for all its clients' jobs with one long
poll at a time, `GET /v1/jobs?ids=...&wait_seconds=10`, as the client library's
`wait_for_jobs` does; bulk clients send prebuilt forms on raw connections too, and long-poll
their job. Every generator stops by itself after `seconds` and sends to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.raw_http import (
    BOUNDARY,
    RawConnection,
    RawHttpError,
    get_request,
    multipart_body,
    multipart_post,
)
from client.api import JOBS_PER_LISTING, LONG_POLL_SECONDS
from core.job_status import FINAL_STATUSES

POLL_SECONDS = 0.05  # between asks when a long poll came back with nothing final
IDLE_SECONDS = 0.005  # between looks for a job to wait on, when none is pending


@dataclass
class LoadResult:
    """What one load phase achieved: answers by status, images done, latencies in ms."""

    seconds: float
    done: int
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    percentiles_ms: dict[str, float] = field(default_factory=dict)

    def summarize(self) -> None:
        """Fill the percentiles from the latencies."""
        if self.latencies_ms and not self.percentiles_ms:
            ordered = sorted(self.latencies_ms)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                self.percentiles_ms[name] = round(ordered[int(q * (len(ordered) - 1))], 1)
        self.latencies_ms = []  # the JSON report keeps the percentiles only


@dataclass(frozen=True)
class Share:
    """What one client process achieved, and when its clients started and stopped."""

    done: int
    statuses: dict[str, int]
    latencies_ms: list[float]
    started: float  # time.monotonic()
    ended: float


@dataclass(frozen=True)
class Target:
    """Where a load goes: gateway URL and the API key to send."""

    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """Return the request headers."""
        return {"Authorization": f"Bearer {self.key}"}


async def _single_image_clients(
    target: Target, images: list[bytes], clients: int, seconds: float
) -> Share:
    """Closed loop: each client submits one image and waits for its job, then the next.

    Requests are prebuilt bytes on keep-alive connections (cli.raw_http), so the clients
    cost the 2 shared cores little next to the stack they measure.
    """
    pending: dict[str, asyncio.Future[str]] = {}
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    posts = [
        multipart_post(target.url, "/v1/jobs", target.key, "files", [(f"{n}.png", data)])
        for n, data in enumerate(images)
    ]
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        connection = RawConnection(target.url)
        n = index
        while time.monotonic() < deadline:
            started = time.monotonic()
            code, body = await connection.send(posts[n % len(posts)])
            n += clients
            statuses[str(code)] = statuses.get(str(code), 0) + 1
            if code != 202:
                await asyncio.sleep(0.1)
                continue
            done = pending[json.loads(body)["job_id"]] = asyncio.get_running_loop().create_future()
            if await asyncio.wait_for(done, 120) == "succeeded":
                latencies.append((time.monotonic() - started) * 1000.0)
        await connection.close()

    async def poller(stop: asyncio.Event) -> None:
        connection = RawConnection(target.url)
        while not stop.is_set():
            # The oldest jobs first; one submitted meanwhile is asked about when this poll
            # comes back, which a closed loop of one-image jobs makes within one batch.
            waiting = list(pending)[:JOBS_PER_LISTING]
            if not waiting:
                await asyncio.sleep(IDLE_SECONDS)
                continue
            ids = ",".join(waiting)
            path = f"/v1/jobs?ids={ids}&wait_seconds={LONG_POLL_SECONDS:g}"
            code, body = await connection.send(get_request(target.url, path, target.key))
            finals = [
                job
                for job in (json.loads(body)["jobs"] if code == 200 else [])
                if job["status"] in FINAL_STATUSES and job["job_id"] in pending
            ]
            for job in finals:
                pending.pop(job["job_id"]).set_result(job["status"])
            if not finals:  # no waiting place on the gateway (or an error): space the asks
                await asyncio.sleep(POLL_SECONDS)
        await connection.close()

    stop = asyncio.Event()
    polling = asyncio.create_task(poller(stop))
    started = time.monotonic()
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        stop.set()
        await polling
    return Share(len(latencies), statuses, latencies, started, time.monotonic())


async def _predict_clients(
    target: Target, images: list[bytes], clients: int, seconds: float
) -> Share:
    """Closed loop of /predict calls (used when wrk is not installed)."""
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=target.url, headers=target.headers, timeout=60) as http:

        async def client(index: int) -> None:
            n = index
            while time.monotonic() < deadline:
                started = time.monotonic()
                answer = await http.post(
                    "/predict", files={"file": ("t.png", images[n % len(images)])}
                )
                n += clients
                statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
                if answer.status_code == 200:
                    latencies.append((time.monotonic() - started) * 1000.0)

        started = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(clients)))
    return Share(len(latencies), statuses, latencies, started, time.monotonic())


def _run_process(args: tuple[str, Target, list[bytes], int, float]) -> Share:
    mode, target, images, clients, seconds = args
    driver = _single_image_clients if mode == "single" else _predict_clients
    return asyncio.run(driver(target, images, clients, seconds))


def run_clients(
    mode: str, target: Target, images: list[bytes], clients: int, seconds: float, processes: int = 2
) -> LoadResult:
    """Run `clients` closed-loop clients split over processes for `seconds`.

    The phase lasts from the first client's first request to the last one's end: starting
    the processes, handing them the images and building their requests (seconds, for
    thousands of 224-px tiles) is not load, and counting it made the stack look slower.
    """
    share = [clients // processes + (i < clients % processes) for i in range(processes)]
    jobs = [(mode, target, images[i::processes], n, seconds) for i, n in enumerate(share) if n]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.map(_run_process, jobs)
    # time.monotonic is the system's CLOCK_MONOTONIC: comparable across processes.
    window = max(part.ended for part in parts) - min(part.started for part in parts)
    result = LoadResult(seconds=window, done=0)
    for part in parts:
        result.done += part.done
        result.latencies_ms += part.latencies_ms
        for code, count in part.statuses.items():
            result.statuses[code] = result.statuses.get(code, 0) + count
    result.summarize()
    return result


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
counts = {{}}
response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      io.write(string.format("status %d %d\\n", status, n))
    end
  end
  for _, p in pairs({{50, 95, 99}}) do
    io.write(string.format("percentile %d %.3f\\n", p, latency:percentile(p) / 1000.0))
  end
end
"""


def run_wrk_predict(target: Target, image: bytes, connections: int, seconds: float) -> LoadResult:
    """Drive POST /predict with wrk; 200 answers count as done (202 is a timeout)."""
    with tempfile.TemporaryDirectory(prefix="inferq-wrk-") as scratch:
        body = Path(scratch) / "body"
        body.write_bytes(multipart_body("file", [("t.png", image)]))
        script = Path(scratch) / "predict.lua"
        script.write_text(WRK_SCRIPT.format(key=target.key, boundary=BOUNDARY, body=body))
        command = [
            "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(seconds)}s",
            "--timeout", "30s", "-s", str(script), f"{target.url}/predict",
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output, seconds)


def parse_wrk(output: str, seconds: float) -> LoadResult:
    """Read answers by status, socket errors and percentiles from the script's output."""
    statuses: dict[str, int] = {}
    for code, count in re.findall(r"status (\d+) (\d+)", output):
        statuses[code] = statuses.get(code, 0) + int(count)
    errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors:
        statuses["socket_errors"] = sum(int(group) for group in errors.groups())
    result = LoadResult(seconds=seconds, done=statuses.get("200", 0), statuses=statuses)
    for percentile, value in re.findall(r"percentile (\d+) ([\d.]+)", output):
        result.percentiles_ms[f"p{percentile}"] = round(float(value), 1)
    return result


def wrk_available() -> bool:
    """Return whether wrk is installed."""
    return shutil.which("wrk") is not None


def wait_final(target: Target, job_id: str, timeout: float = 600) -> None:
    """Long-poll one job until it is final, on a connection of its own."""

    async def wait() -> None:
        connection = RawConnection(target.url)
        try:
            await long_poll_final(connection, target, job_id, timeout)
        finally:
            await connection.close()

    asyncio.run(wait())


def run_bulk(
    target: Target, images: list[bytes], per_request: int = 100, clients: int = 4
) -> LoadResult:
    """Upload images `per_request` a request from `clients` clients, each long-polling its
    job until it is final before it sends the next; time it all.

    The forms are built before the clock starts and sent as bytes on keep-alive connections
    (cli.raw_http), as the single-image clients' are: building them is not load.
    """
    posts = [
        multipart_post(
            target.url,
            "/v1/jobs",
            target.key,
            "files",
            [(f"{n}.png", data) for n, data in enumerate(images[start : start + per_request])],
        )
        for start in range(0, len(images), per_request)
    ]
    started = time.monotonic()
    latencies = asyncio.run(_bulk_clients(target, posts, clients))
    result = LoadResult(seconds=time.monotonic() - started, done=len(images))
    result.latencies_ms = latencies
    result.statuses = {"202": len(posts)}
    result.summarize()
    return result


async def _bulk_clients(target: Target, posts: list[bytes], clients: int) -> list[float]:
    """Send each client's share of the uploads in turn; return each job's latency in ms."""
    latencies: list[float] = []

    async def client(share: list[bytes]) -> None:
        connection = RawConnection(target.url)
        try:
            for post in share:
                sent = time.monotonic()
                code, body = await connection.send(post)
                if code != 202:
                    raise RawHttpError(f"a bulk upload answered {code}: {body[:200]!r}")
                await long_poll_final(connection, target, json.loads(body)["job_id"])
                latencies.append((time.monotonic() - sent) * 1000.0)
        finally:
            await connection.close()

    await asyncio.gather(*(client(posts[index::clients]) for index in range(clients)))
    return latencies


async def long_poll_final(
    connection: RawConnection, target: Target, job_id: str, timeout: float = 600
) -> None:
    """Long-poll one job through the listing route until it is final."""
    path = f"/v1/jobs?ids={job_id}&wait_seconds={LONG_POLL_SECONDS:g}"
    request = get_request(target.url, path, target.key)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body = await connection.send(request)
        jobs = json.loads(body)["jobs"] if code == 200 else []
        if jobs and jobs[0]["status"] in FINAL_STATUSES:
            return
        await asyncio.sleep(POLL_SECONDS)  # no waiting place (or an error): space the asks
    raise TimeoutError(f"job {job_id} not finished")
