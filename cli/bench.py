"""`inferq bench`: the raw batched model against the whole stack, in one run per model.

Raw: the worker's own traced batch graph on preprocessed arrays, in this process. End to
end, with one gateway and one worker on real PostgreSQL and Redis, keys required:
- bulk: 100 images a request from 4 clients, until every result is in;
- single: 32 clients each submitting one image and waiting for it, polling through
  `GET /v1/jobs?ids=`;
- predict: 64 connections calling `POST /predict` (wrk when installed).
Each mode reports images a second, its ratio to raw (measured again just before the mode,
with the stack idle), p50/p95/p99 latency, answers by status, and the mean batch size the
worker actually ran (from its /metrics counters).
Gateway cold start (spawn to the first 200 from /readyz, the median of three starts) and
worker ready (spawn to its health 200) are measured too. `--runtime all` measures each
model in TensorFlow fp32, LiteRT fp32 and LiteRT int8 in turn (TFLite files converted from
the same weights). The priority mode (cli/bench_priority.py) times /predict while a
20,000-image bulk job runs, against its idle time in the same run; the slide case
(cli/bench_slides.py) times one synthetic slide. The rate limit is off for the run: one
tenant plays many clients here; everything else of admission runs as deployed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from cli.bench_priority import PriorityResult, measure_priority
from cli.bench_report import print_table
from cli.bench_runtimes import RUNTIMES, add_tflite, runtimes
from cli.bench_slides import SlideResult, measure_slide
from cli.bench_stack import ModeResult, WorkerCounters, exactly_once, measure_mode, start_stack
from cli.load import LoadResult, Target, run_bulk, run_clients, run_wrk_predict, wrk_available
from core.native_output import import_tensorflow
from core.settings import get_settings

console = Console()


@dataclass(frozen=True)
class Case:
    """One model's sizes: input, batch, bulk images and seconds per load phase; whether
    the priority mode runs by default (20,000 224-px tiles would be gigabytes to upload)."""

    size: tuple[int, int]
    batch_size: int
    bulk_images: int
    seconds: float
    priority_mode: bool = True


MODES = ("bulk", "single", "predict", "priority")
# Raw speed is measured again, this long, just before each mode (with the stack idle): the
# machine's speed drifts over a run, and each mode's ratio is to the raw speed beside it.
RAW_NEXT_SECONDS = 5.0
CASES = {
    "small_cnn": Case((96, 96), 64, 12_000, 15.0),
    "resnet50v2": Case((224, 224), 8, 1200, 20.0, priority_mode=False),  # as fast as 32 on CPU
}


@dataclass(frozen=True)
class CpuFloor:
    """The CPU an image that no path through the stack avoids, in milliseconds: the model's
    (raw, every thread of this process) and the worker's decoding of the bench's tiles; and
    the most images a second this machine's cores allow doing those two and nothing else."""

    model_ms: float
    decode_ms: float
    cores: int
    ceiling_images_per_second: float


def cpu_floor(raw: float, model_ms: float, decode_ms: float) -> CpuFloor:
    """Return the floor of these two costs on the cores this process may use: the ceiling
    is what the cores' CPU allows, and never more than the model's raw speed."""
    cores = len(os.sched_getaffinity(0))
    ceiling = min(raw, 1000 * cores / (model_ms + decode_ms))
    return CpuFloor(round(model_ms, 3), round(decode_ms, 3), cores, round(ceiling, 1))


@dataclass
class ModelResult:
    """Every figure of one model, measured in the same run."""

    architecture: str
    runtime: str
    input_size: tuple[int, int]
    batch_size: int
    raw_images_per_second: float
    gateway_cold_start_s: float
    worker_ready_s: float
    modes: dict[str, ModeResult] = field(default_factory=dict)
    results_exactly_once: bool = True
    slide: SlideResult | None = None
    priority: PriorityResult | None = None
    floor: CpuFloor | None = None


def export_random_model(architecture: str, size: tuple[int, int], out_dir: Path) -> None:
    """Export a random-weight model of an architecture (speed does not depend on weights)."""
    from training.export import build_card, export_model
    from training.model_zoo import build_model

    card = build_card(
        architecture=architecture,
        class_names=["benign", "malignant"],
        input_size=size,
        data_hash="0" * 64,
        metrics={},
    )
    export_model(build_model(architecture, size, 2), card, out_dir)


def tile_images(n: int, size: tuple[int, int], work_dir: Path) -> list[bytes]:
    """Return n distinct synthetic tiles at the model's input size, as PNG bytes."""
    from training.synthetic import generate_dataset

    folder = work_dir / "tiles"
    if folder.exists():  # made for an earlier runtime of the same model
        return [path.read_bytes() for path in sorted(folder.rglob("*.png"))][:n]
    paths = generate_dataset(folder, n_tiles=n, tile_size=size[0], seed=7)
    return [path.read_bytes() for path in paths]


class RawModel:
    """The worker's own traced batch graph in this process, on one preprocessed batch."""

    def __init__(self, model_dir: Path, images: list[bytes], batch_size: int, runtime: str):
        from core.preprocessing import decode_image
        from worker.model_holder import load_model

        engine, precision = RUNTIMES[runtime]
        self.loaded = load_model(
            str(model_dir), max_batch_size=batch_size, runtime=engine, precision=precision
        )
        size = self.loaded.card.input_size
        self.batch = np.stack([decode_image(data, size) for data in images[:batch_size]])
        self.cpu_ms = 0.0  # set by rate()

    def rate(self, seconds: float) -> float:
        """Return images per second over `seconds` of back-to-back batches; keep the
        milliseconds of this process's CPU (every thread's) they took an image."""
        done, started, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            self.loaded.predict(self.batch)
            done += len(self.batch)
        self.cpu_ms = 1000 * (time.process_time() - cpu) / done
        return done / (time.perf_counter() - started)


def decode_cpu_ms(images: list[bytes], size: tuple[int, int], passes: int = 3) -> float:
    """Return the CPU milliseconds an image the worker's own decoding takes (one thread,
    the best of `passes` over the images)."""
    from core.preprocessing import decode_source

    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        for data in images:
            decode_source(data, size)
        best = min(best, time.process_time() - started)
    return 1000 * best / len(images)


def prepare_model(architecture: str, work_dir: Path) -> tuple[Path, list[bytes]]:
    """Export (once) a random-weight model with its TFLite files, and the tiles to send."""
    case = CASES[architecture]
    model_dir = work_dir / architecture
    images = tile_images(max(case.bulk_images, 400), case.size, work_dir / f"{architecture}-data")
    if not model_dir.exists():
        export_random_model(architecture, case.size, model_dir)
        add_tflite(model_dir, images[:32], case.size)  # speed does not depend on calibration
    return model_dir, images


@dataclass(frozen=True)
class Plan:
    """What to run on each model: raw seconds, load modes, the priority figure's sizes."""

    raw_seconds: float
    modes: list[str]
    bulk_images: int = 20_000
    priority_seconds: float = 15.0
    priority_connections: int = 4


def bench_model(
    architecture: str,
    runtime: str,
    env: dict[str, str],
    work_dir: Path,
    plan: Plan,
) -> ModelResult:
    """Measure one model in one runtime raw, then the end-to-end modes asked on one stack."""
    from db.api_keys import create_key
    from db.session import get_session

    case = CASES[architecture]
    model_dir, images = prepare_model(architecture, work_dir)
    raw_model = RawModel(model_dir, images, case.batch_size, runtime)
    raw = raw_model.rate(plan.raw_seconds)
    console.print(f"{architecture} {runtime}: raw {raw:.1f} img/s")
    cpu = cpu_floor(raw, raw_model.cpu_ms, decode_cpu_ms(images[:200], case.size))
    engine, precision = RUNTIMES[runtime]
    if not plan.modes:  # raw only: no stack
        return ModelResult(
            architecture, runtime, case.size, case.batch_size, round(raw, 1), 0, 0, floor=cpu
        )
    env = {**env, "INFERQ_MODEL_URI": str(model_dir), "INFERQ_MAX_BATCH_SIZE": str(case.batch_size)}
    env |= {"INFERQ_RUNTIME": engine, "INFERQ_PRECISION": precision}
    with get_session(env["INFERQ_DATABASE_URL"]) as session:
        target_key = create_key("bench", session=session).plaintext
    stack, cold_start, worker_ready = start_stack(env, work_dir)
    result = ModelResult(
        architecture,
        runtime,
        case.size,
        case.batch_size,
        round(raw, 1),
        round(cold_start, 2),
        round(worker_ready, 2),
        floor=cpu,
    )
    try:
        target = Target(stack.url, target_key)
        counters = WorkerCounters(stack.worker_health[0])
        run_bulk(target, images[:200])  # warm-up: the gateway's and worker's first requests
        modes: dict[str, Callable[[], LoadResult]] = {
            "bulk": lambda: run_bulk(target, images[: case.bulk_images]),
            "single": lambda: run_clients("single", target, images, 32, case.seconds),
            "predict": lambda: (
                run_wrk_predict(target, images[0], 64, case.seconds)
                if wrk_available()
                else run_clients("predict", target, images, 64, case.seconds)
            ),
        }
        for name, run in modes.items():
            if name in plan.modes:
                here = raw_model.rate(min(plan.raw_seconds, RAW_NEXT_SECONDS))
                result.modes[name] = measure_mode(name, stack, counters, here, run)
                time.sleep(2)  # let stragglers finish before the next mode's counters
        if "priority" in plan.modes and (case.priority_mode or plan.modes == ["priority"]):
            result.priority = measure_priority(
                stack,
                target,
                images[0],
                plan.bulk_images,
                plan.priority_seconds,
                plan.priority_connections,
            )
        result.results_exactly_once = exactly_once(env["INFERQ_DATABASE_URL"])
    finally:
        stack.stop()
    return result


def bench(
    models: list[str] = typer.Option(list(CASES), "--model", help="Models to measure."),
    postgres_admin_url: str = typer.Option(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="A PostgreSQL server where a scratch database is created and dropped.",
    ),
    redis_url: str = typer.Option("redis://127.0.0.1:6379/15", help="Broker for the run."),
    raw_seconds: float = typer.Option(10.0, help="How long to run the raw measurement."),
    runtime: str = typer.Option(
        "tensorflow", help="tensorflow, litert-fp32, litert-int8, or all (each in turn)."
    ),
    modes: list[str] = typer.Option(
        [*MODES], "--mode", help="Modes to run: bulk, single, predict, priority."
    ),
    bulk_images: int = typer.Option(20_000, help="Size of the priority mode's bulk job."),
    priority_seconds: float = typer.Option(15.0, help="Each priority window (idle, busy)."),
    raw_only: bool = typer.Option(False, "--raw-only", help="Measure the model alone, no stack."),
    out: Path = typer.Option(Path("reports/bench/bench.json"), help="Where to write JSON."),
    slides: bool = typer.Option(True, help="Run the slide case (about 10,000 tissue tiles)."),
    tile_modes: bool = typer.Option(True, help="Run the end-to-end image modes (--mode)."),
) -> None:
    """Measure raw vs end-to-end throughput and latency on real PostgreSQL and Redis."""
    from db.scratch import scratch_database

    import_tensorflow(get_settings().data_dir)  # its start-up lines go to a log, not here
    if not wrk_available():
        console.print("wrk is not installed (apt-get install wrk): /predict uses client processes")
    results = []
    with tempfile.TemporaryDirectory(prefix="inferq-bench-") as tmp:
        for architecture, each in product(models, runtimes(runtime)):
            work_dir = Path(tmp)
            with scratch_database(postgres_admin_url, prefix="inferq_bench") as database_url:
                env = {
                    **os.environ,
                    "INFERQ_DATA_DIR": str(work_dir / f"{architecture}-{each}-stack"),
                    "INFERQ_DATABASE_URL": database_url,
                    "INFERQ_BROKER_URL": redis_url,
                    "INFERQ_LOG_LEVEL": "WARNING",
                    "INFERQ_RATE_LIMIT_PER_MINUTE": "0",
                }
                wanted = modes if tile_modes and not raw_only else []
                plan = Plan(raw_seconds, wanted, bulk_images, priority_seconds)
                result = bench_model(architecture, each, env, work_dir, plan)
                results.append(result)
            if slides and not raw_only:
                case = (
                    architecture,
                    each,
                    result.raw_images_per_second,
                    CASES[architecture].batch_size,
                )
                result.slide = measure_slide(case, env, work_dir, postgres_admin_url)
    print_table(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    console.print(f"wrote {out}")
