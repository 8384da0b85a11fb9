"""The benchmark's printed report: one table of every mode, then one line per case."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from cli.bench_slides import slide_line

if TYPE_CHECKING:
    from cli.bench import ModelResult

console = Console()


def print_table(results: list[ModelResult]) -> None:
    """Print every mode of every model as one table."""
    table = Table(
        "model",
        "mode",
        "img/s",
        "x raw",
        "raw beside",
        "mean batch",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "answers",
        "healthz max ms",
    )
    for r in results:
        table.add_row(
            f"{r.architecture} {r.runtime}",
            "raw",
            f"{r.raw_images_per_second:.1f}",
            "1.000",
            "",
            str(r.batch_size),
            "",
            "",
            "",
            "",
            "",
        )
        for name, m in r.modes.items():
            table.add_row(
                f"{r.architecture} {r.runtime}",
                name,
                f"{m.images_per_second:.1f}",
                f"{m.ratio_to_raw:.3f}",
                str(m.raw_images_per_second or ""),
                str(m.mean_batch_size),
                *(str(m.latency_ms.get(p, "")) for p in ("p50", "p95", "p99")),
                " ".join(f"{k}:{v}" for k, v in sorted(m.statuses.items())),
                str(m.healthz_max_ms),
            )
    console.print(table)
    for r in results:
        shares = [
            f"{n} {m.wake_ups_sent:.0%}" for n, m in r.modes.items() if m.wake_ups_sent is not None
        ]
        if shares:
            console.print(
                f"{r.architecture} {r.runtime}: images whose wake-up was sent (the rest were "
                f"left to a draining worker): {', '.join(shares)}"
            )
    for line in model_time_lines(results):
        console.print(line)
    for line in bare_server_lines(results):
        console.print(line)
    for line in cpu_lines(results):
        console.print(line)
    for line in floor_lines(results):
        console.print(line)
    for line in runtime_lines(results):
        console.print(line)
    for r in results:
        if r.slide is not None:
            console.print(slide_line(r.slide))
        if r.priority is not None:
            console.print(
                f"{r.architecture}: /predict p95 {r.priority.busy_ms.get('p95')} ms while a "
                f"{r.priority.bulk_images}-image bulk job runs, {r.priority.idle_ms.get('p95')} "
                f"and {r.priority.idle_after_ms.get('p95')} ms idle: {r.priority.p95_ratio} x"
            )
    for r in results:
        console.print(
            f"{r.architecture} {r.runtime}: gateway cold start {r.gateway_cold_start_s:.2f} s, "
            f"worker ready {r.worker_ready_s:.2f} s, every item exactly one result: "
            f"{r.results_exactly_once}"
        )


def model_time_lines(results: list[ModelResult]) -> list[str]:
    """Split each mode's ratio: how fast the worker's model ran beside the stack, as a ratio
    to raw, and the share of the mode's seconds it was running."""
    lines = []
    for r in results:
        parts = [
            f"{n} {m.model_ratio_to_raw:.2f}x raw, running {m.model_busy:.0%}"
            for n, m in r.modes.items()
            if m.model_ratio_to_raw is not None and m.model_busy is not None
        ]
        if parts:
            lines.append(f"{r.architecture} {r.runtime}: the worker's model: {'; '.join(parts)}")
    return lines


def bare_server_lines(results: list[ModelResult]) -> list[str]:
    """Each mode's slowest /healthz beside the slowest answer of a bare server timed by the
    same prober right after each /healthz answer (cli.bench_probe): what the prober and the
    machine add to any answer."""
    lines = []
    for r in results:
        parts = [
            f"{n} {m.healthz_max_ms} / {m.bare_max_ms} ms"
            for n, m in r.modes.items()
            if m.bare_max_ms is not None
        ]
        if parts:
            lines.append(
                f"{r.architecture} {r.runtime}: slowest /healthz / a bare server's slowest "
                f"answer, timed alongside: {'; '.join(parts)}"
            )
    return lines


def cpu_lines(results: list[ModelResult]) -> list[str]:
    """Where each mode's CPU went: milliseconds of CPU an image for the gateway, the
    workers, PostgreSQL, Redis and the load generator, and how busy the machine was."""
    return [
        f"{r.architecture} {r.runtime} {name}: CPU ms an image: {m.cpu.describe()}"
        for r in results
        for name, m in r.modes.items()
        if m.cpu is not None
    ]


def floor_lines(results: list[ModelResult]) -> list[str]:
    """The most any mode could reach on this machine: the model's CPU an image (raw) and the
    worker's decoding of the same tiles, with nothing else running, as a ratio to raw."""
    lines = []
    for r in results:
        f = r.floor
        if f is None or not r.raw_images_per_second:
            continue
        ratio = f.ceiling_images_per_second / r.raw_images_per_second
        lines.append(
            f"{r.architecture} {r.runtime}: CPU ms an image no mode avoids: the model "
            f"{f.model_ms:.2f} (raw), decoding {f.decode_ms:.2f}; on {f.cores} cores these "
            f"alone allow {f.ceiling_images_per_second:,.0f} img/s, {ratio:.2f}x raw"
        )
    return lines


def runtime_lines(results: list[ModelResult]) -> list[str]:
    """Each runtime's raw and end-to-end speed over TensorFlow fp32 raw of the same model in
    this run (the LiteRT aims are ratios to that figure); none without a TensorFlow run."""
    baseline = {
        r.architecture: r.raw_images_per_second for r in results if r.runtime == "tensorflow"
    }
    lines = []
    for r in results:
        tf_raw = baseline.get(r.architecture)
        if not tf_raw or r.runtime == "tensorflow":
            continue
        parts = [f"raw {r.raw_images_per_second / tf_raw:.2f}x"]
        parts += [f"{name} {m.images_per_second / tf_raw:.2f}x" for name, m in r.modes.items()]
        lines.append(f"{r.architecture} {r.runtime} over TensorFlow fp32 raw: {', '.join(parts)}")
    return lines
