"""`inferq bench`: raw batched model throughput against end-to-end throughput, in one run.

Raw: the worker's own traced batch graph on preprocessed arrays, in this process.
End to end: N images uploaded over HTTP to a real gateway, until every result is in the
database, with one worker process. Both use the same random-weight model and batch size.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from cli.stack import Stack, free_port

console = Console()

#: (architecture, input size, batch size, images end to end, upload request size)
CASES = {
    "small_cnn": ((96, 96), 64, 4000, 200),
    "resnet50v2": ((224, 224), 8, 240, 40),
}


@dataclass
class BenchResult:
    """Figures of one model, measured in the same run."""

    architecture: str
    input_size: tuple[int, int]
    batch_size: int
    images: int
    raw_images_per_second: float
    e2e_images_per_second: float
    ratio: float


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

    paths = generate_dataset(work_dir / "tiles", n_tiles=n, tile_size=size[0], seed=7)
    return [path.read_bytes() for path in paths]


def measure_raw(model_dir: Path, images: list[bytes], batch_size: int, seconds: float) -> float:
    """Return images per second of the worker's batch graph on preprocessed arrays."""
    from core.preprocessing import decode_image
    from worker.model_holder import load_model

    loaded = load_model(str(model_dir), max_batch_size=batch_size)
    batch = np.stack([decode_image(data, loaded.card.input_size) for data in images[:batch_size]])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        loaded.predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def upload_all(client: httpx.Client, images: list[bytes], per_request: int) -> list[str]:
    """Upload images into jobs of `per_request` files; return the job IDs."""
    job_ids = []
    for start in range(0, len(images), per_request):
        chunk = images[start : start + per_request]
        files = [("files", (f"{start + i}.png", data)) for i, data in enumerate(chunk)]
        response = client.post("/v1/jobs", files=files)
        response.raise_for_status()
        job_ids.append(response.json()["job_id"])
    return job_ids


def wait_until_done(client: httpx.Client, job_ids: list[str], timeout: float = 1800) -> None:
    """Wait until every job succeeded, polling lightly so as not to steal the worker's CPU."""
    deadline = time.monotonic() + timeout
    for job_id in job_ids:
        while client.get(f"/v1/jobs/{job_id}").json()["status"] != "succeeded":
            if time.monotonic() > deadline:
                raise TimeoutError("benchmark did not finish")
            time.sleep(0.1)


def measure_e2e(env: dict[str, str], images: list[bytes], per_request: int, log_dir: Path) -> float:
    """Return images per second from first upload to last result, one worker.

    The gateway runs as deployed, keys required: each request pays for its key check.
    """
    from db.api_keys import create_key
    from db.session import get_session

    with get_session(env["INFERQ_DATABASE_URL"]) as session:
        headers = {"Authorization": f"Bearer {create_key('bench', session=session).plaintext}"}
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=log_dir)
    stack.start_gateway()
    stack.start_worker()
    try:
        stack.wait_ready()
        with httpx.Client(base_url=stack.url, timeout=600, headers=headers) as client:
            warm_up = upload_all(client, images[:per_request], per_request)
            wait_until_done(client, warm_up)
            started = time.perf_counter()
            wait_until_done(client, upload_all(client, images, per_request))
            return len(images) / (time.perf_counter() - started)
    finally:
        stack.stop()


def bench_case(
    architecture: str, env: dict[str, str], work_dir: Path, seconds: float
) -> BenchResult:
    """Measure one model raw and end to end."""
    size, batch_size, n_images, per_request = CASES[architecture]
    model_dir = work_dir / architecture
    export_random_model(architecture, size, model_dir)
    images = tile_images(n_images, size, work_dir / f"{architecture}-data")
    raw = measure_raw(model_dir, images, batch_size, seconds)
    case_env = {**env, "INFERQ_MODEL_URI": str(model_dir), "INFERQ_MAX_BATCH_SIZE": str(batch_size)}
    e2e = measure_e2e(case_env, images, per_request, work_dir)
    console.print(f"{architecture}: raw {raw:.1f} img/s, end to end {e2e:.1f} img/s")
    return BenchResult(architecture, size, batch_size, n_images, raw, e2e, e2e / raw)


def print_table(results: list[BenchResult]) -> None:
    """Print the figures as a table."""
    table = Table("model", "input", "batch", "images", "raw img/s", "e2e img/s", "e2e / raw")
    for r in results:
        table.add_row(
            r.architecture,
            f"{r.input_size[0]}x{r.input_size[1]}",
            str(r.batch_size),
            str(r.images),
            f"{r.raw_images_per_second:.1f}",
            f"{r.e2e_images_per_second:.1f}",
            f"{r.ratio:.2f}",
        )
    console.print(table)


def bench(
    models: list[str] = typer.Option(list(CASES), "--model", help="Models to measure."),
    postgres_admin_url: str = typer.Option(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="A PostgreSQL server where a scratch database is created and dropped.",
    ),
    redis_url: str = typer.Option("redis://127.0.0.1:6379/15", help="Broker for the run."),
    raw_seconds: float = typer.Option(10.0, help="How long to run the raw measurement."),
    out: Path = typer.Option(Path("reports/bench/bench.json"), help="Where to write JSON."),
) -> None:
    """Measure raw vs end-to-end throughput on real PostgreSQL and Redis."""
    from db.scratch import scratch_database

    results = []
    with tempfile.TemporaryDirectory(prefix="inferq-bench-") as tmp:
        for architecture in models:
            work_dir = Path(tmp)
            with scratch_database(postgres_admin_url, prefix="inferq_bench") as database_url:
                env = {
                    **os.environ,
                    "INFERQ_DATA_DIR": str(work_dir / f"{architecture}-stack"),
                    "INFERQ_DATABASE_URL": database_url,
                    "INFERQ_BROKER_URL": redis_url,
                    "INFERQ_LOG_LEVEL": "WARNING",
                }
                results.append(bench_case(architecture, env, work_dir, raw_seconds))
    print_table(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    console.print(f"wrote {out}")
