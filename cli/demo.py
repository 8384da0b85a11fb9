"""`inferq demo`: the whole path on the embedded defaults, with no servers configured."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console

from cli.stack import Stack, free_port
from cli.tables import results_table
from client.models import ResultItem
from core.commands import INFERQ, command_hint
from core.job_status import FINAL_STATUSES
from core.native_output import import_tensorflow
from core.settings import get_settings

console = Console()

CORRUPT_FILE = "corrupt.png"
CORRUPT_NOTE = (
    f"{CORRUPT_FILE} is broken on purpose: it shows that a bad file fails its own item, "
    "not the job, so the job ends partially_failed while every other image is classified."
)


CLOSING_HINT = (
    f"To keep a stack up: {command_hint('gateway')} and {command_hint('worker')} in two "
    f"terminals (or {command_hint('demo --keep-running')}); they require API keys: "
    f"`export INFERQ_API_KEY=$({INFERQ} keys create --tenant lab)` for the CLI. "
    "README.md, 'Your first hour', goes on from here."
)


def ensure_model(model_dir: Path, work_dir: Path) -> None:
    """Train the quick model into model_dir unless one is already there."""
    if (model_dir / "model.json").exists():
        console.print(f"using the model in {model_dir}")
        return
    import_tensorflow(get_settings().data_dir)  # its start-up lines go to a log, not here
    from training.synthetic import generate_dataset
    from training.train import train_quick

    console.print("no model yet: generating tiles and training the quick model (a few minutes)")
    data_dir = work_dir / "train-data"
    generate_dataset(data_dir, n_tiles=1000, seed=0)
    card = train_quick(data_dir, model_dir)
    console.print(f"trained {card.name} {card.version}: {card.metrics}")


def demo_folder(work_dir: Path) -> Path:
    """Write a small folder of unseen tiles plus one corrupt file to submit."""
    from training.synthetic import generate_dataset

    folder = work_dir / "submit"
    if not folder.exists():
        generate_dataset(folder, n_tiles=24, seed=12345)
        (folder / CORRUPT_FILE).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return folder


DEMO_SLIDE = "demo-slide.tiff"


def demo_slide(work_dir: Path) -> Path:
    """Write a small synthetic slide (tissue, one malignant region) for the demo's slide job."""
    from training.slides import SlideSpec, write_slide

    folder = work_dir / "slides"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_SLIDE
    if not path.exists():
        spec = SlideSpec(3000, 2200, [(1500, 1100, 1250, 900)], [(700, 600, 1400, 1300)])
        write_slide(path, spec)
    return path


def run_slide_job(client: httpx.Client, slide: Path, work_dir: Path) -> None:
    """Submit the demo slide by reference, wait, print its call and save its heatmap."""
    response = client.post("/v1/jobs/slides", json={"slides": [{"url": str(slide)}]})
    response.raise_for_status()
    job_id = str(response.json()["job_id"])
    console.print(f"submitted {slide.name} by reference: job {job_id}")
    wait_for_job(client, job_id)
    for view in client.get(f"/v1/jobs/{job_id}/slides").json()["slides"]:
        console.print(
            f"{view['filename']}: {view['status']}, {view['n_tiles']} tissue tiles, call "
            f"{view['call']}, positive area {view['positive_area_mm2']} mm²"
        )
        if view["status"] == "succeeded":
            heatmap = work_dir / "demo-slide-heatmap.png"
            heatmap.write_bytes(client.get(view["links"]["heatmap"]).content)
            console.print(f"heatmap: {heatmap} ({command_hint(f'slides {job_id} --geojson .')})")


def submit_folder(client: httpx.Client, folder: Path) -> str:
    """Upload every file of a folder as one job and return its ID."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [("files", (str(p.relative_to(folder)), p.read_bytes())) for p in paths]
    response = client.post("/v1/jobs", files=files)
    response.raise_for_status()
    body = response.json()
    console.print(f"submitted {len(paths)} files: job {body['job_id']} ({body['n_items']} queued)")
    return str(body["job_id"])


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 300.0) -> dict[str, object]:
    """Poll a job until it reaches a final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in FINAL_STATUSES:
            return job
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} not finished after {timeout} s")


def print_results(client: httpx.Client, job_id: str) -> None:
    """Print the job's results as a table, then the service metrics."""
    items = client.get(f"/v1/jobs/{job_id}/results", params={"limit": 1000}).json()["items"]
    versions = sorted({item["model_version"] for item in items if item["model_version"]})
    console.print(f"model version: {', '.join(versions)}")
    console.print(results_table(ResultItem.model_validate(item) for item in items))
    metrics = client.get("/v1/metrics").json()
    console.print(
        f"throughput: {metrics['throughput_per_second']} results a second over the last "
        f"{metrics['throughput_window_seconds']} s; every metric:"
    )
    console.print_json(data=metrics)


def report_job(client: httpx.Client, job_id: str, job: dict[str, object]) -> None:
    """Print the job's final status, why an item failed, its results and the metrics."""
    console.print(f"job {job_id}: {job['status']} {job['counts']}")
    console.print(CORRUPT_NOTE)
    print_results(client, job_id)


def demo(
    keep_running: bool = typer.Option(False, help="Leave gateway and worker up until Ctrl-C."),
    port: int = typer.Option(0, help="Gateway port; 0 picks a free one."),
) -> None:
    """Train if needed, start gateway and worker, submit a folder, print the results."""
    from db.migrate import upgrade

    settings = get_settings()
    work_dir = settings.data_dir / "demo"
    work_dir.mkdir(parents=True, exist_ok=True)
    ensure_model(Path(settings.model_uri), work_dir)
    upgrade(settings.resolved_database_url)
    url = f"http://127.0.0.1:{port or free_port()}"
    # The demo runs on one machine with no keys: it is the one place auth is turned off.
    slide = demo_slide(work_dir)
    sources = json.dumps({"default": [str(slide.parent)]})
    env = {**os.environ, "INFERQ_AUTH_ENABLED": "false", "INFERQ_SLIDE_SOURCES": sources}
    stack = Stack(url=url, env=env, log_dir=work_dir)
    stack.start_gateway()
    stack.start_worker()
    try:
        stack.wait_ready()
        stack.wait_workers_ready()
        with httpx.Client(base_url=url, timeout=60) as client:
            job_id = submit_folder(client, demo_folder(work_dir))
            job = wait_for_job(client, job_id)
            report_job(client, job_id, job)
            run_slide_job(client, slide, work_dir)
        if keep_running:
            console.print(
                f"stack up at {url} (web page at {url}/, docs at {url}/docs); Ctrl-C stops it"
            )
            while True:
                time.sleep(3600)
        console.print(CLOSING_HINT)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
