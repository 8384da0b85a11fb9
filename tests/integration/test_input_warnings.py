"""Inputs the model was not trained for are flagged on real processes: a grayscale tile and
a tile at twice the trained size get warnings in the results (JSON and CSV) and a count per
patient in the summary, or fail with the reason when INFERQ_FAIL_ON_INPUT_WARNINGS is on.
`GET /v1/model` carries the card's lineage, and each result names its model row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from core.model_card import TrainingImages
from db.migrate import upgrade
from tests.integration.conftest import gateway_and_worker, stack_environment, wait_for_job
from training.lineage import GitState

pytestmark = pytest.mark.services

COMMIT = "c0ffee" * 6 + "abcd"
DVC_MD5 = "0123456789abcdef0123456789abcdef.dir"
#: file name -> (patient, the warnings its tile must get)
TILES = {
    "colour.png": ("P1", []),
    "grey.png": ("P1", ["grayscale input"]),
    "big.png": ("P1", ["tile 2.0x the trained size"]),
    "other.png": ("P2", []),
}


def tile(name: str) -> bytes:
    """Return the PNG of a test tile: colour 96 px, except the grey and the big one."""
    size = 192 if name == "big.png" else 96
    pixels = np.random.default_rng(len(name)).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if name == "grey.png" else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def lineage_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model whose card says what it was trained on and where it came from."""
    import keras

    from training.export import build_card, export_model

    inputs = keras.Input((96, 96, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    card = build_card(
        architecture="tiny",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        data_hash="d" * 64,
        metrics={},
        positive_class="malignant",
        training_images=TrainingImages(color_mode="rgb", tile_size=(96, 96), magnification=40),
        dvc_data_hash=DVC_MD5,
        git=GitState(COMMIT, ("training/train.py",)),
    )
    return export_model(model, card, tmp_path_factory.mktemp("lineage-model"))


def submit(client: httpx.Client) -> str:
    """Submit the tiles with a manifest naming their patients; return the finished job's ID."""
    manifest = "filename,patient_id\n" + "".join(f"{n},{p}\n" for n, (p, _) in TILES.items())
    files = [("files", (name, tile(name))) for name in TILES]
    files.append(("manifest", ("manifest.csv", manifest.encode())))
    job = client.post("/v1/jobs", files=files).json()
    wait_for_job(client, job["job_id"])
    return str(job["job_id"])


def test_unlike_inputs_are_flagged_and_the_model_carries_its_lineage(
    tmp_path: Path, postgres_url: str, redis_url: str, lineage_model: Path
) -> None:
    upgrade(postgres_url)
    env = stack_environment(tmp_path, postgres_url, redis_url, lineage_model)
    with (
        gateway_and_worker(env, tmp_path, workers_ready=True) as stack,
        httpx.Client(base_url=stack.url, timeout=30) as client,
    ):
        served = client.get("/v1/model").json()
        assert (served["git_commit"], served["git_dirty"]) == (COMMIT, True)
        assert served["dvc_data_hash"] == DVC_MD5 and served["data_hash"] == "d" * 64
        assert served["training_images"] == {
            "color_mode": "rgb",
            "tile_size": [96, 96],
            "pixel_size_um": None,
            "magnification": 40.0,
        }
        assert "run_id" in served and "registered_version" in served

        job_id = submit(client)
        items = client.get(f"/v1/jobs/{job_id}/results").json()["items"]
        assert {i["filename"]: i["warnings"] for i in items} == {
            name: flags for name, (_, flags) in TILES.items()
        }
        assert all(i["status"] == "succeeded" for i in items)
        assert {(i["model_version"], i["model_id"]) for i in items} == {
            (served["version"], served["id"])
        }

        table = client.get(f"/v1/jobs/{job_id}/results?format=csv").text
        rows = {row["filename"]: row["warnings"] for row in csv.DictReader(io.StringIO(table))}
        assert rows == {name: "; ".join(flags) for name, (_, flags) in TILES.items()}

        summary = client.get(f"/v1/jobs/{job_id}/summary").json()
        flagged = {p["patient_id"]: p["n_flagged"] for p in summary["patients"]}
        assert flagged == {"p1": 2, "p2": 0}
        summary_csv = client.get(f"/v1/jobs/{job_id}/summary?format=csv").text
        patients = [r for r in csv.DictReader(io.StringIO(summary_csv)) if r["level"] == "patient"]
        assert {r["patient_id"]: r["n_flagged"] for r in patients} == {"p1": "2", "p2": "0"}


def test_with_the_setting_on_a_flag_fails_its_item_with_the_reason(
    tmp_path: Path, postgres_url: str, redis_url: str, lineage_model: Path
) -> None:
    upgrade(postgres_url)
    env = stack_environment(tmp_path, postgres_url, redis_url, lineage_model)
    env["INFERQ_FAIL_ON_INPUT_WARNINGS"] = "true"
    with (
        gateway_and_worker(env, tmp_path) as stack,
        httpx.Client(base_url=stack.url, timeout=30) as client,
    ):
        job_id = submit(client)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "partially_failed"
        items = {i["filename"]: i for i in client.get(f"/v1/jobs/{job_id}/results").json()["items"]}
    prefix = "input unlike the model's training images: "
    assert items["grey.png"]["status"] == "failed"
    assert items["grey.png"]["error"] == prefix + "grayscale input"
    assert items["big.png"]["error"] == prefix + "tile 2.0x the trained size"
    assert items["big.png"]["label"] is None
    assert [items[n]["status"] for n in ("colour.png", "other.png")] == ["succeeded"] * 2
