"""Slide jobs through a real gateway and worker on PostgreSQL and Redis: a good slide and a
truncated one, then the heatmap, GeoJSON and tile CSV of the good one."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from cli.stack import Stack, inferq_command
from db.migrate import upgrade
from tests.integration.conftest import gateway_and_worker, stack_environment, wait_for_job
from tests.slides import SPEC, nucleus_model_dir
from training.slides import in_boxes, tissue_mask, write_slide

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def nucleus_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nucleus_model_dir(tmp_path_factory.mktemp("nucleus-model"))


@pytest.fixture
def slide_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scans" / "default"
    folder.mkdir(parents=True)
    good = write_slide(folder / "good.tiff", SPEC)
    (folder / "truncated.tiff").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return folder


@pytest.fixture
def slide_stack(
    tmp_path: Path, postgres_url: str, redis_url: str, nucleus_model: Path, slide_folder: Path
) -> Iterator[Stack]:
    env = stack_environment(tmp_path, postgres_url, redis_url, nucleus_model)
    env["INFERQ_SLIDE_SOURCES"] = json.dumps({"default": [str(slide_folder)]})
    env["INFERQ_SLIDE_BLOCK_TILES"] = "64"
    env["INFERQ_SLIDE_THUMBNAIL_PX"] = "1000"
    upgrade(postgres_url)
    with gateway_and_worker(env, tmp_path) as stack:
        yield stack


def test_a_slide_job_gives_a_call_heatmap_geojson_and_tiles(
    slide_stack: Stack, slide_folder: Path, tmp_path: Path
) -> None:
    references = [
        {"url": str(slide_folder / "good.tiff"), "patient_id": "P1"},
        {"url": str(slide_folder / "truncated.tiff"), "patient_id": "P2"},
    ]
    with httpx.Client(base_url=slide_stack.url, timeout=60) as client:
        accepted = client.post("/v1/jobs/slides", json={"slides": references})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        job = wait_for_job(client, job_id, timeout=240)
        assert job["status"] == "partially_failed"
        good, truncated = client.get(f"/v1/jobs/{job_id}/slides").json()["slides"]
        assert truncated["status"] == "failed" and "truncated" in truncated["error"]
        assert good["status"] == "succeeded" and good["progress"] == 1.0
        progress = {"slides": 2, "tiles": good["n_tiles"], "tiles_done": good["n_tiles"]}
        assert job["slides"] == progress
        assert good["call"] == "malignant" and good["positive_area_mm2"] > 0.1
        patients = client.get(f"/v1/jobs/{job_id}/summary").json()["patients"]
        calls = {p["patient_id"]: (p["status"], p["call"]) for p in patients}
        assert calls == {
            "p1": ("called", "malignant"),
            "p2": ("incomplete", None),
        }  # IDs normalised
        tiles_csv = client.get(good["links"]["tiles_csv"])
        geojson = client.get(good["links"]["geojson"])
        heatmap = client.get(good["links"]["heatmap"])
    check_cli_downloads(slide_stack.url, job_id, tmp_path)
    check_uploaded_slide(slide_stack.url, slide_folder / "good.tiff", tmp_path, good["n_tiles"])
    rows = list(csv.DictReader(io.StringIO(tiles_csv.text)))
    assert len(rows) == good["n_tiles"] > 400
    check_tiles(rows)
    check_geojson(geojson.json(), rows)
    check_heatmap(Image.open(io.BytesIO(heatmap.content)))


def check_cli_downloads(url: str, job_id: str, tmp_path: Path) -> None:
    """`inferq slides JOB --heatmap --geojson --tiles-csv` lists the slides and writes files."""
    out = tmp_path / "out"
    command = [*inferq_command("slides", job_id), "--api", url]
    flags = ["--heatmap", str(out), "--geojson", str(out), "--tiles-csv", str(out)]
    answer = subprocess.run([*command, *flags], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "malignant" in answer.stdout and "truncated" in answer.stdout
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".geojson", ".png"]


def check_uploaded_slide(url: str, slide: Path, tmp_path: Path, n_tiles: int) -> None:
    """`inferq submit-slides --upload` sends a local slide in chunks; its upload is tiled alike."""
    ledger = tmp_path / "ledger.sqlite3"
    command = [*inferq_command("submit-slides", "--upload", str(slide)), "--api", url]
    answer = subprocess.run(
        [*command, "--ledger", str(ledger), "--patient", "P3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "complete, sha256" in answer.stdout
    job_id = answer.stdout.split("job ", 1)[1].split(":", 1)[0]
    with httpx.Client(base_url=url, timeout=60) as client:
        assert wait_for_job(client, job_id, timeout=240)["status"] == "succeeded"
        (uploaded,) = client.get(f"/v1/jobs/{job_id}/slides").json()["slides"]
        other = client.post("/v1/jobs/slides", json={"slides": [{"upload_id": str(uuid.uuid4())}]})
    assert uploaded["filename"] == "good.tiff" and uploaded["call"] == "malignant"
    assert uploaded["n_tiles"] == n_tiles
    assert other.status_code == 422 and "not a completed upload" in other.json()["detail"]


def check_tiles(rows: list[dict[str, str]]) -> None:
    """Tiles lie on tissue; those in the malignant box score high, the others low."""
    corners = np.array([[int(r["minx"]), int(r["miny"])] for r in rows])
    centres = corners + int(rows[0]["width"]) // 2
    assert tissue_mask(SPEC)[centres[:, 1], centres[:, 0]].mean() > 0.97
    malignant = in_boxes(SPEC.malignant, centres[:, 0], centres[:, 1])
    scores = np.array([float(r["prob_malignant"]) for r in rows])
    assert scores[malignant].mean() > 0.7 > 0.3 > scores[~malignant].mean()


def check_geojson(collection: dict, rows: list[dict[str, str]]) -> None:  # type: ignore[type-arg]
    """QuPath's shape: tile polygons in level-0 pixels matching the CSV, and an annotation."""
    assert collection["type"] == "FeatureCollection"
    tiles = [f for f in collection["features"] if f["properties"]["objectType"] == "tile"]
    assert len(tiles) == len(rows)
    assert [f["properties"]["objectType"] for f in collection["features"]][-1] == "annotation"
    for feature, row in zip(tiles[:50], rows[:50], strict=True):
        ring = feature["geometry"]["coordinates"][0]
        x, y, side = int(row["minx"]), int(row["miny"]), int(row["width"])
        assert ring == [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
        properties = feature["properties"]
        assert properties["classification"]["name"] in {"benign", "malignant"}
        assert len(properties["classification"]["color"]) == 3
        assert (
            abs(properties["measurements"]["prob_malignant"] - float(row["prob_malignant"])) < 1e-3
        )


def check_heatmap(image: Image.Image) -> None:
    """The heatmap is redder over the malignant box than over the benign tissue."""
    pixels = np.asarray(image.convert("RGB")).astype(float)
    scale = SPEC.width / pixels.shape[1]
    ((x0, y0, x1, y1),) = SPEC.malignant
    inside = pixels[
        int(y0 / scale) + 5 : int(y1 / scale) - 5, int(x0 / scale) + 5 : int(x1 / scale) - 5
    ]
    benign = pixels[
        int(1500 / scale) - 40 : int(1500 / scale) + 40,
        int(3300 / scale) - 40 : int(3300 / scale) + 40,
    ]
    redness = lambda block: (block[..., 0] - block[..., 2]).mean()  # noqa: E731
    assert redness(inside) > redness(benign) + 40
