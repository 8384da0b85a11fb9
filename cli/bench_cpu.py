"""Where a bench mode's CPU goes: seconds of CPU by part of the stack, read from /proc.

A mode's ratio to raw is bounded by the CPU an image costs on the shared cores, not only
by the model. This reads each process's user and system time (`/proc/<pid>/stat`, all its
threads) before and after a mode, and groups the processes: the gateway and each worker
with their descendants, every PostgreSQL and Redis process on the machine (the bench
runs against servers of its own, so nothing else should use them), and the load (the
bench's other descendants: its client processes, `wrk`, and the bench process itself,
which times `/healthz`). The whole machine's busy share comes from `/proc/stat`.

Linux only: elsewhere there is no split, and the report says nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis"}
PARTS = ("gateway", "worker", "PostgreSQL", "Redis", "load")


@dataclass(frozen=True)
class ProcessTime:
    """One process: its parent, its command name and the CPU seconds it has used."""

    ppid: int
    name: str
    seconds: float


def read_process(pid: int) -> ProcessTime | None:
    """Return a process's parent, name and CPU seconds; None if it is gone.

    The seconds include those of its children that ended and were waited for, so a client
    process that exits during a mode still counts, in its parent's time.
    """
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state, ppid, ..., utime, stime, cutime and cstime (fields 14 to 17).
    return ProcessTime(int(fields[1]), name, sum(int(v) for v in fields[11:15]) / TICKS)


def processes() -> dict[int, ProcessTime]:
    """Return every process this user can read."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := read_process(int(entry.name))) is not None:
            found[int(entry.name)] = process
    return found


def descendants(root: int, table: dict[int, ProcessTime]) -> set[int]:
    """Return `root` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, process in table.items():
        children.setdefault(process.ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def machine_ticks() -> tuple[int, int]:
    """Return (busy, total) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle and waiting for I/O
    return sum(values) - idle, sum(values)


@dataclass
class CpuSnapshot:
    """CPU seconds by part of the stack at one moment, and the machine's ticks."""

    seconds: dict[str, float] = field(default_factory=dict)
    busy_ticks: int = 0
    total_ticks: int = 0


def group(
    table: dict[int, ProcessTime], gateway: Iterable[int], workers: Iterable[int], bench: int
) -> Iterator[tuple[str, float]]:
    """Yield (part, CPU seconds) for each process of the stack, the servers and the load."""
    gateway_pids = set().union(*(descendants(pid, table) for pid in gateway))
    worker_pids = set().union(*(descendants(pid, table) for pid in workers))
    load_pids = descendants(bench, table) - gateway_pids - worker_pids
    for pid, process in table.items():
        if pid in gateway_pids:
            yield "gateway", process.seconds
        elif pid in worker_pids:
            yield "worker", process.seconds
        elif process.name in SERVERS:
            yield SERVERS[process.name], process.seconds
        elif pid in load_pids:
            yield "load", process.seconds


class CpuWatch:
    """Reads the CPU the stack's parts use over one mode."""

    def __init__(self, gateway: list[int], workers: list[int], bench: int | None = None) -> None:
        self.gateway = gateway
        self.workers = workers
        self.bench = bench if bench is not None else os.getpid()
        self.enabled = (PROC / "stat").exists()
        self._start: CpuSnapshot | None = None

    def snapshot(self) -> CpuSnapshot:
        """Return the CPU seconds of every part now."""
        table = processes()
        snap = CpuSnapshot()
        for part, seconds in group(table, self.gateway, self.workers, self.bench):
            snap.seconds[part] = snap.seconds.get(part, 0.0) + seconds
        snap.busy_ticks, snap.total_ticks = machine_ticks()
        return snap

    def start(self) -> None:
        """Take the first snapshot (nothing on a machine without /proc)."""
        self._start = self.snapshot() if self.enabled else None

    def stop(self, images: int) -> CpuSplit | None:
        """Return the mode's split over `images`, or None without /proc or images."""
        if self._start is None or images <= 0:
            return None
        end = self.snapshot()
        before = self._start.seconds
        used = {part: end.seconds.get(part, 0.0) - before.get(part, 0.0) for part in PARTS}
        ticks = end.total_ticks - self._start.total_ticks
        busy = (end.busy_ticks - self._start.busy_ticks) / ticks if ticks else 0.0
        return CpuSplit(
            ms_per_image={part: round(1000 * max(s, 0.0) / images, 2) for part, s in used.items()},
            machine_busy=round(busy, 3),
        )


@dataclass(frozen=True)
class CpuSplit:
    """A mode's CPU milliseconds an image by part of the stack, and the machine's busy share."""

    ms_per_image: dict[str, float]
    machine_busy: float

    @property
    def total_ms(self) -> float:
        """CPU milliseconds an image, all parts together."""
        return round(sum(self.ms_per_image.values()), 2)

    def describe(self) -> str:
        """Return the split as one phrase: each part's ms an image, then the machine."""
        parts = ", ".join(f"{part} {ms:.2f}" for part, ms in self.ms_per_image.items())
        return f"{parts}; total {self.total_ms:.2f} ms, machine {self.machine_busy:.0%} busy"
