"""deploy/gate.sh, the command CD runs before moving traffic, against real stacks.

A gateway (keys required) and a worker on PostgreSQL and Redis: a broken model
(random weights whose card claims 0.95) must fail the gate with the reason, and a model
trained here, accurate on generated tiles, with a card recording the accuracy it reached
on other tiles, must pass it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli.stack import Stack, free_port, inferq_command
from core.model_card import ModelCard
from db.migrate import upgrade
from tests.integration.conftest import gateway_and_worker, stack_environment

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "deploy" / "gate.sh"
GATE_TILES = "256"  # as CD sends: fewer make the measured accuracy too noisy to compare


def labelled(folder: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate 256 synthetic tiles; return them as uint8 arrays and whether malignant."""
    from evaluation.dataset import load_samples
    from training.synthetic import generate_dataset

    generate_dataset(folder / f"seed-{seed}", n_tiles=256, seed=seed)
    samples = load_samples(folder / f"seed-{seed}")
    tiles = np.stack([np.asarray(Image.open(s.path).convert("RGB")) for s in samples])
    return tiles, np.array([s.label == "malignant" for s in samples])


@pytest.fixture(scope="module")
def accurate_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small CNN trained on 1000 tiles, its card recording its held-out accuracy.

    Training's own test split holds seven patients; the card records the accuracy on 512
    tiles of 26 other patients instead, so the comparison is not at the mercy of a few
    patients' stains. None of these tiles are the gate's (seed 7).
    """
    import keras

    from training.synthetic import generate_dataset
    from training.train import train_quick

    folder = tmp_path_factory.mktemp("accurate")
    generate_dataset(folder / "train", n_tiles=1000, seed=1)
    directory = folder / "model"
    card = train_quick(folder / "train", directory, epochs=6, seed=0)
    model = keras.models.load_model(directory / "model.keras")
    right = []
    for seed in (11, 13):
        tiles, malignant = labelled(folder, seed)
        right.append((model.predict(tiles, verbose=0)[:, 1] >= card.threshold) == malignant)
    accuracy = float(np.concatenate(right).mean())
    assert accuracy > 0.85, accuracy  # it learned the classes
    card.name, card.version, card.positive_class = "gate-accurate", "1", "malignant"
    card.metrics = {**card.metrics, "test_accuracy": accuracy}
    card.write(directory)
    return directory


@pytest.fixture(scope="module")
def broken_model_dir(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """Random weights whose card claims a test accuracy of 0.95."""
    folder = tmp_path_factory.mktemp("broken") / "model"
    shutil.copytree(model_dir, folder)
    card = ModelCard.read(folder)
    card.name, card.version, card.positive_class = "gate-broken", "1", "malignant"
    card.metrics = {"test_accuracy": 0.95}
    card.write(folder)
    return folder


@contextmanager
def stack_serving(
    tmp_path: Path, postgres_url: str, redis_url: str, model: Path
) -> Iterator[tuple[Stack, str]]:
    """A gateway with keys required and one worker serving `model`; and a tenant's key."""
    env = stack_environment(tmp_path, postgres_url, redis_url, model)
    env["INFERQ_AUTH_ENABLED"] = "true"
    upgrade(postgres_url)
    made = subprocess.run(
        inferq_command("keys", "create", "--tenant", "release"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    with gateway_and_worker(env, tmp_path, workers_ready=True) as stack:
        yield stack, made.stdout.strip()


def run_gate(url: str, card: Path, report: Path, **env: str) -> tuple[int, str]:
    """Run deploy/gate.sh as CD does, with this venv's inferq on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", str(GATE), url, str(card), str(report)],
        env={**os.environ, "PATH": path, "GATE_TILES": GATE_TILES, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def test_gate_fails_a_broken_model_and_a_model_other_than_the_card(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    broken_model_dir: Path,
    accurate_model_dir: Path,
) -> None:
    report = tmp_path / "gate.json"
    with stack_serving(tmp_path, postgres_url, redis_url, broken_model_dir) as (stack, key):
        code, output = run_gate(
            stack.url, broken_model_dir / "model.json", report, INFERQ_API_KEY=key
        )
        assert code == 1, output
        assert "gate: FAIL" in output and "more than the 0.05 allowed" in output
        verdict = json.loads(report.read_text())
        assert verdict["n_failed"] == 0 and not verdict["comparison"]["passed"]
        assert verdict["comparison"]["recorded_accuracy"] == 0.95
        # The card CD passes is the one shipped, not what the stack says it serves.
        code, output = run_gate(
            stack.url, accurate_model_dir / "model.json", report, INFERQ_API_KEY=key
        )
        assert code == 1, output
        assert "the card is gate-accurate:1 but gate-broken:1 answered" in output


def test_gate_passes_an_accurate_model(
    tmp_path: Path, postgres_url: str, redis_url: str, accurate_model_dir: Path
) -> None:
    report = tmp_path / "gate.json"
    with stack_serving(tmp_path, postgres_url, redis_url, accurate_model_dir) as (stack, key):
        code, output = run_gate(
            stack.url, accurate_model_dir / "model.json", report, INFERQ_API_KEY=key
        )
    assert code == 0, output
    assert "gate: PASS" in output
    verdict = json.loads(report.read_text())
    assert verdict["comparison"]["passed"] and verdict["comparison"]["failures"] == []
    assert verdict["n_classified"] == int(GATE_TILES)
    assert verdict["comparison"]["served_models"] == ["gate-accurate:1"]
    assert all(patient["call"] for patient in verdict["per_patient"]["patients"])


def test_gate_fails_without_an_answering_api_a_key_or_a_card(
    tmp_path: Path, broken_model_dir: Path
) -> None:
    card, report = broken_model_dir / "model.json", tmp_path / "gate.json"
    closed = f"http://127.0.0.1:{free_port()}"
    code, output = run_gate(closed, card, report, INFERQ_API_KEY="k", GATE_WAIT_SECONDS="2")
    assert code == 1 and f"{closed}/healthz did not answer within 2 s" in output
    code, output = run_gate(closed, card, report, INFERQ_API_KEY="")
    assert code == 1 and "INFERQ_API_KEY is empty" in output
    code, output = run_gate(closed, tmp_path / "none.json", report, INFERQ_API_KEY="k")
    assert code == 1 and "no model card at" in output
    assert not report.exists()


def test_gate_fails_when_no_worker_finishes_the_job(
    tmp_path: Path, postgres_url: str, redis_url: str, broken_model_dir: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, tmp_path / "no-model")
    upgrade(postgres_url)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()  # and no worker: the job stays queued
    try:
        stack.wait_ready()
        card, report = broken_model_dir / "model.json", tmp_path / "gate.json"
        code, output = run_gate(
            stack.url, card, report, INFERQ_API_KEY="k", GATE_TILES="8", GATE_TIMEOUT_SECONDS="3"
        )
    finally:
        stack.stop()
    assert code == 1, output
    assert "not finished after 3.0 s: queued" in output and "gate: FAIL" in output
    assert not report.exists()
