"""Time the gateway's cold start: process start to the first 200 from /readyz.

    cold_start.py [--runs N] [COMMAND ...]

Each COMMAND (default: `inferq gateway --host 127.0.0.1 --port {port}`) is a shell command
line with `{port}` where the port goes, whose last step runs the server (`exec` is put in
front of a line without one, so the process timed is the server); with several, their runs
are interleaved, so a busy machine slows each alike. /readyz is polled every 5 ms. For each
run it prints the wall time and the CPU time the process had used when /readyz first
answered 200 (steadier than wall time on a shared machine), then each command's median,
minimum and maximum. The gateway reads its settings from the environment: set
INFERQ_DATABASE_URL (a migrated database) and INFERQ_BROKER_URL as deployed. Standard
library only, Linux only (/proc): it runs inside the gateway image too.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

DEFAULT_COMMAND = "inferq gateway --host 127.0.0.1 --port {port}"
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    """Return a loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def readyz_status(port: int) -> int | None:
    """Return the status /readyz answers with, or None while nothing answers."""
    request = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            return int(sock.recv(64).split()[1])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU seconds a process has used (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(command: str) -> tuple[float, float]:
    """Start the command and return (wall, CPU) seconds to its first 200 from /readyz."""
    port = free_port()
    line = command.format(port=port)
    started = time.perf_counter()
    process = subprocess.Popen(
        line if "exec " in line else f"exec {line}",
        shell=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - started < TIMEOUT_SECONDS:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode}: {command}")
            if readyz_status(port) == 200:
                return time.perf_counter() - started, cpu_seconds(process.pid)
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"no 200 from /readyz within {TIMEOUT_SECONDS} s: {command}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def main() -> None:
    """Run every command `--runs` times, interleaved, after one unmeasured start each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("commands", nargs="*", default=[DEFAULT_COMMAND])
    args = parser.parse_args()
    for command in args.commands:  # bytecode and page cache warm for every command alike
        start_once(command)
    figures: dict[str, list[tuple[float, float]]] = {command: [] for command in args.commands}
    for run in range(args.runs):
        for index, command in enumerate(args.commands):
            wall, cpu = start_once(command)
            figures[command].append((wall, cpu))
            sys.stdout.write(f"run {run} command {index}: {wall:.3f} s wall, {cpu:.2f} s CPU\n")
            sys.stdout.flush()
    for index, (command, runs) in enumerate(figures.items()):
        walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
        sys.stdout.write(
            f"command {index} ({command}): wall median {statistics.median(walls):.3f} s "
            f"(min {min(walls):.3f}, max {max(walls):.3f}); CPU median "
            f"{statistics.median(cpus):.2f} s (min {min(cpus):.2f}, max {max(cpus):.2f})\n"
        )


if __name__ == "__main__":
    main()
