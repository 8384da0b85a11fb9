"""Bring your own model: a 3-class Keras file imported by the CLI and served by a real worker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import jsonschema

from cli.stack import inferq_command
from core.model_card import CARD_FILE, ModelCard
from db.migrate import upgrade
from tests.integration.conftest import gateway_and_worker, stack_environment, wait_for_job
from tests.keras_files import COLOURS, colour_model, solid_png

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "model.schema.json").read_text())


def test_an_imported_three_class_model_is_served(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model_file = colour_model(tmp_path / "colours.keras")
    out = tmp_path / "served"
    command = inferq_command(
        *("models", "import", str(model_file), "--classes", ",".join(COLOURS)),
        *("--input-size", "32", "--positive-class", "red", "--name", "colours", "--out", str(out)),
    )
    imported = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert imported.returncode == 0, imported.stderr
    jsonschema.validate(json.loads((out / CARD_FILE).read_text()), SCHEMA)
    card = ModelCard.read(out)

    upgrade(postgres_url)
    env = stack_environment(tmp_path, postgres_url, redis_url, out)
    # Two sizes per colour, so that no two files are duplicates the gateway would merge.
    sized = [(colour, size) for colour in COLOURS for size in (40, 64)]
    tiles = {f"{colour}-{size}.png": colour for colour, size in sized}
    files = [("files", (f"{colour}-{size}.png", solid_png(colour, size))) for colour, size in sized]
    with (
        gateway_and_worker(env, tmp_path, workers_ready=True) as stack,
        httpx.Client(base_url=stack.url, timeout=60) as client,
    ):
        accepted = client.post("/v1/jobs", files=files)
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["job_id"])
        items = client.get(accepted.json()["links"]["results"]).json()["items"]
    assert job["status"] == "succeeded"
    assert len(items) == len(tiles)
    for item in items:
        assert item["label"] == tiles[item["filename"]]  # red tiles are red: RGB, in order
        assert set(item["scores"]) == set(COLOURS)
        assert abs(sum(item["scores"].values()) - 1.0) < 1e-4
        assert (item["model_name"], item["model_version"]) == ("colours", card.version)
