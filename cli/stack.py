"""Start and stop a gateway and workers as child processes (demo, bench, tests)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def inferq_command(*args: str) -> list[str]:
    """Return the command line that runs an inferq subcommand with this interpreter."""
    return [sys.executable, "-m", "cli.main", *args]


@dataclass
class Stack:
    """A running gateway and its workers."""

    url: str
    env: dict[str, str]
    log_dir: Path
    gateway: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_health: list[str] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def spawn(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start an inferq subcommand with the stack's environment, logging to a file."""
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            inferq_command(*args), env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT
        )

    def start_gateway(self, workers: int = 1) -> None:
        """Start the gateway on the stack's port, with `workers` uvicorn processes."""
        port = self.url.rsplit(":", 1)[1]
        self.gateway = self.spawn(
            "gateway", "gateway", "--host", "127.0.0.1", "--port", port, "--workers", str(workers)
        )

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start one more worker process, with its health endpoint on a free port."""
        name = f"worker-{len(self.workers)}"
        port = free_port()
        extra = {"INFERQ_WORKER_ID": name, "INFERQ_HEALTH_PORT": str(port), **env}
        process = self.spawn(name, "worker", **extra)
        self.workers.append(process)
        self.worker_health.append(f"http://127.0.0.1:{port}/")
        return process

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the gateway answers /readyz with 200."""
        assert self.gateway is not None, "start the gateway first"
        wait_http_ok(f"{self.url}/readyz", self.gateway, self.log_dir / "gateway.log", timeout)

    def wait_workers_ready(self, timeout: float = 120.0) -> None:
        """Wait until every running worker has loaded its model and consumes."""
        for index, (process, url) in enumerate(zip(self.workers, self.worker_health, strict=True)):
            if process.poll() is None:
                wait_http_ok(url, process, self.log_dir / f"worker-{index}.log", timeout)

    def stop_gateway(self) -> None:
        """Stop the gateway alone (SIGTERM, then SIGKILL after 15 s)."""
        if self.gateway is not None:
            stop_process(self.gateway)
            self.gateway = None

    def stop(self) -> None:
        """Stop every process with SIGTERM, then SIGKILL after 15 s."""
        processes = [p for p in [self.gateway, *self.workers] if p is not None]
        for process in processes:
            stop_process(process)
        for log in self._logs:
            log.close()


def wait_http_ok(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, poll: float = 0.02
) -> None:
    """Poll `url` every `poll` seconds until it answers 200 (so a start is timed to within
    that); fail early if the process serving it exits.

    One client serves every try: a new one each time would build an SSL context, CPU that
    the starting process needs on a small machine.
    """
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode}; see {log}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(poll)
    raise TimeoutError(f"{url} not ready after {timeout} s; see {log}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """Send SIGTERM and wait; kill if it does not exit in time. Return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
