"""The slide case of `inferq bench`: one synthetic slide of about 10,000 tissue tiles named
by reference, timed from job creation to its last tile, against the raw model.

Per-stage times (open and tile; read, decode and resize as the worker does it, a grid row
a strip; the resize alone; model) are measured in this process, one thread, on the same
slide; gateway and worker RSS (with their child processes) are
sampled every half second while the stack runs the slide.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.bench_runtimes import RUNTIMES
from cli.bench_stack import start_stack

TISSUE_SHARE = 0.97  # tiles kept on an ellipse: all but a thin rim


@dataclass
class SlideResult:
    """The slide case of one model."""

    architecture: str
    n_tiles: int
    slide_mb: float
    seconds: float
    tiles_per_second: float
    ratio_to_raw: float
    call: str | None
    stages_ms_per_tile: dict[str, float] = field(default_factory=dict)
    gateway_rss_max_mb: float = 0.0
    worker_rss_max_mb: float = 0.0


def write_bench_slide(folder: Path, side: int, tiles: int) -> Path:
    """Write a slide whose one tissue ellipse holds about `tiles` tiles of `side` pixels."""
    from training.slides import SlideSpec, write_slide

    area = tiles * side * side / TISSUE_SHARE
    ry = math.sqrt(area / (math.pi * 1.3))
    rx = 1.3 * ry
    width, height = int(2 * rx + 4 * side), int(2 * ry + 4 * side)
    box = (int(width * 0.3), int(height * 0.3), int(width * 0.5), int(height * 0.5))
    spec = SlideSpec(width, height, [(width // 2, height // 2, int(rx), int(ry))], [box], cell=96)
    folder.mkdir(parents=True, exist_ok=True)
    return write_slide(folder / f"bench-{side}.tiff", spec)


def measure_stages(
    slide_path: Path, model_dir: Path, batch_size: int, n: int = 512
) -> dict[str, float]:
    """Return milliseconds per tile of each stage, run in this process on the slide."""
    from core.preprocessing import resize_pixels
    from worker.model_holder import load_model
    from worker.slides.grid import choose_geometry, plan_tiles
    from worker.slides.mask import tissue_mask
    from worker.slides.reader import open_slide
    from worker.slides.regions import read_tiles

    loaded = load_model(str(model_dir), max_batch_size=batch_size)
    card = loaded.card
    started = time.perf_counter()
    slide = open_slide(str(slide_path))
    geometry = choose_geometry(
        slide.mpp, slide.downsamples, card.training_images.pixel_size_um, card.input_size[1]
    )
    corners = plan_tiles(tissue_mask(slide.thumbnail(2048)), slide.dimensions, geometry, 0.5)
    tiling = (time.perf_counter() - started) * 1000 / len(corners)
    sample = corners[len(corners) // 2 : len(corners) // 2 + n]  # whole rows, as a block
    started = time.perf_counter()
    tiles = read_tiles(slide, geometry, sample, card.input_size, card.preprocessing.resample)
    read = (time.perf_counter() - started) * 1000 / len(sample)
    started = time.perf_counter()
    for tile in tiles:  # the resize alone, again (it is part of the read above)
        resize_pixels(tile, card.input_size, card.preprocessing.resample)
    resize = (time.perf_counter() - started) * 1000 / len(sample)
    loaded.predict(tiles[:batch_size])  # traced once before timing
    started = time.perf_counter()
    loaded.predict(tiles)
    model = (time.perf_counter() - started) * 1000 / len(sample)
    slide.close()
    stages = {
        "open_and_tile": tiling, "read_decode_resize": read, "resize_alone": resize, "model": model
    }  # fmt: skip
    return {name: round(value, 4) for name, value in stages.items()}


def tree_rss(pid: int) -> int:
    """Return the resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            status = (Path("/proc") / str(current) / "status").read_text()
        except OSError:
            continue
        total += next(
            (
                int(line.split()[1]) * 1024
                for line in status.splitlines()
                if line.startswith("VmRSS:")
            ),
            0,
        )
    return total


def run_slide_case(
    architecture: str, env: dict[str, str], work_dir: Path, model_dir: Path, raw: float,
    batch_size: int, tiles: int = 10_000,
) -> SlideResult:  # fmt: skip
    """Run one slide through a fresh stack; return its throughput, stages and peak RSS."""
    from core.model_card import ModelCard
    from db.api_keys import create_key
    from db.session import get_session

    side = ModelCard.read(model_dir).input_size[1]
    slide = write_bench_slide(work_dir / "scans", side, tiles)
    stages = measure_stages(slide, model_dir, batch_size)
    env = {
        **env, "INFERQ_MODEL_URI": str(model_dir), "INFERQ_MAX_BATCH_SIZE": str(batch_size),
        "INFERQ_SLIDE_SOURCES": json.dumps({"bench": [str(slide.parent)]}),
    }  # fmt: skip
    with get_session(env["INFERQ_DATABASE_URL"]) as session:
        key = create_key("bench", session=session).plaintext
    stack, _, _ = start_stack(env, work_dir)
    assert stack.gateway is not None
    peaks = [0, 0]
    try:
        with httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            started = time.monotonic()
            job = client.post("/v1/jobs/slides", json={"slides": [{"url": str(slide)}]}).json()[
                "job_id"
            ]
            while True:
                view = client.get(f"/v1/jobs/{job}/slides").json()["slides"][0]
                peaks = [
                    max(peaks[0], tree_rss(stack.gateway.pid)),
                    max(peaks[1], tree_rss(stack.workers[0].pid)),
                ]
                if view["status"] in {"succeeded", "failed", "cancelled"}:
                    break
                time.sleep(0.5)
            seconds = time.monotonic() - started
    finally:
        stack.stop()
    n_tiles = int(view["n_tiles"] or 0)
    rate = n_tiles / seconds
    return SlideResult(
        architecture, n_tiles, round(os.path.getsize(slide) / 2**20, 1), round(seconds, 1),
        round(rate, 1), round(rate / raw, 3), view["call"], stages,
        round(peaks[0] / 2**20, 1), round(peaks[1] / 2**20, 1),
    )  # fmt: skip


def slide_line(slide: SlideResult) -> str:
    """Return the slide case of one model on one line."""
    stages = ", ".join(f"{name} {ms:.3f}" for name, ms in slide.stages_ms_per_tile.items())
    return (
        f"{slide.architecture} slide: {slide.n_tiles} tiles in {slide.seconds} s = "
        f"{slide.tiles_per_second} tiles/s ({slide.ratio_to_raw:.3f} x raw), call {slide.call}; "
        f"ms a tile: {stages}; peak RSS gateway {slide.gateway_rss_max_mb} MiB, worker "
        f"{slide.worker_rss_max_mb} MiB"
    )


def measure_slide(
    case: tuple[str, str, float, int], env: dict[str, str], work_dir: Path, admin_url: str
) -> SlideResult:
    """Run the slide case of one model (architecture, runtime, raw img/s, batch size) on a
    scratch database of its own."""
    from db.scratch import scratch_database

    architecture, runtime, raw, batch_size = case
    engine, precision = RUNTIMES[runtime]
    with scratch_database(admin_url, prefix="inferq_bench") as url:
        slide_env = {
            **env,
            "INFERQ_DATA_DIR": str(work_dir / f"{architecture}-{runtime}-slide-stack"),
            "INFERQ_DATABASE_URL": url,
            "INFERQ_RUNTIME": engine,
            "INFERQ_PRECISION": precision,
        }
        return run_slide_case(
            architecture,
            slide_env,
            work_dir / f"{architecture}-slide",
            work_dir / architecture,
            raw,
            batch_size,
        )
