"""One decision rule on real processes: the served label is the card's rule on every item,
for thresholds 0.2, 0.5 and 0.8, and training, `inferq evaluate` and the summary count the
same labels the API returned."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from cli.stack import Stack, free_port, stop_process
from core.decision import DecisionRule
from core.model_card import ModelCard
from core.patients import normalize_id
from db.migrate import upgrade
from tests.integration.conftest import stack_environment, wait_for_job
from training.report import evaluate_predictions

pytestmark = pytest.mark.services

N_TILES = 40
GAIN = 0.04  # p(malignant) = sigmoid(GAIN * (mean red - 127.5)): 0.006 to 0.994 over the tiles


def red_level(index: int) -> int:
    """Return the red level of tile `index`, spread evenly over 0-255."""
    return round(index * 255 / (N_TILES - 1))


def tile_png(index: int) -> bytes:
    """Return a flat tile whose red level sets its malignant score."""
    pixels = np.full((96, 96, 3), 128, dtype=np.uint8)
    pixels[..., 0] = red_level(index)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def truth_of(index: int) -> str:
    """Return a tile's true class: mostly by its red level, with some tiles the other way."""
    malignant = red_level(index) > 110
    return "benign" if malignant == (index % 7 == 3) else "malignant"


@pytest.fixture(scope="module")
def red_meter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose malignant score rises smoothly with the tile's mean red level."""
    import keras

    from training.export import build_card, export_model

    inputs = keras.Input((96, 96, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(pooled)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((3, 2), dtype=np.float32)
    kernel[0, 1] = GAIN
    model.layers[-1].set_weights([kernel, np.array([0.0, -127.5 * GAIN], dtype=np.float32)])
    card = build_card(
        architecture="red_meter",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        data_hash="0" * 64,
        metrics={"test_accuracy": 0.0, "test_auc": 0.0},  # the gate here judges the rule only
        positive_class="malignant",
    )
    return export_model(model, card, tmp_path_factory.mktemp("red-meter"))


def with_threshold(model_dir: Path, target: Path, threshold: float) -> Path:
    """Copy the model with a card that states `threshold`, as its own version."""
    shutil.copytree(model_dir, target)
    card = ModelCard.read(target)
    card.threshold, card.version = threshold, f"{card.version}-t{threshold}"
    card.write(target)
    return target


def labelled_folder(folder: Path) -> dict[str, str]:
    """Write the tiles as DATA/<label>/P<k>_<i>.png (four patients); return name -> truth."""
    truth = {}
    for index in range(N_TILES):
        name = f"{truth_of(index)}/P{index % 4 + 1}_{index:02d}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(tile_png(index))
        truth[name] = truth_of(index)
    return truth


def submit_tiles(client: httpx.Client) -> list[dict]:  # type: ignore[type-arg]
    """Classify every tile in one job and return its result items."""
    files = [("files", (f"t{i:02d}.png", tile_png(i))) for i in range(N_TILES)]
    job = client.post("/v1/jobs", files=files).json()
    assert wait_for_job(client, job["job_id"])["status"] == "succeeded"
    items: list[dict] = client.get(f"/v1/jobs/{job['job_id']}/results?limit=100").json()["items"]  # type: ignore[type-arg]
    return items


def assert_labels_follow_the_card(items: list[dict], card: ModelCard) -> int:  # type: ignore[type-arg]
    """Check each served label and probability against the rule; return argmax's disagreements."""
    rule = DecisionRule.from_card(card)
    assert len(items) == N_TILES
    for item in items:
        assert item["label"] == rule.label(item["scores"]), item
        assert item["probability"] == item["scores"][item["label"]]
        assert item["model_version"] == card.version
    return sum(item["label"] != max(item["scores"], key=item["scores"].get) for item in items)


def evaluate_and_compare(stack: Stack, served_dir: Path, tmp_path: Path) -> None:
    """Run `inferq evaluate` and compare its figures with the labels the API returned."""
    truth = labelled_folder(tmp_path / "labelled")
    report_path = tmp_path / "report.json"
    arguments = ["evaluate", "--api", stack.url, "--data", str(tmp_path / "labelled")]
    arguments += ["--report", str(report_path), "--model-card", str(served_dir / "model.json")]
    outcome = CliRunner().invoke(app, arguments)
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(report_path.read_text())
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        job = report["job_id"]
        items = client.get(f"/v1/jobs/{job}/results?limit=100").json()["items"]
        summary = client.get(f"/v1/jobs/{job}/summary").json()
    pairs = [(truth[i["filename"]], i["label"]) for i in items]
    counts = Counter(pairs)
    true_pos = counts["malignant", "malignant"]
    precision = true_pos / sum(n for (_, label), n in counts.items() if label == "malignant")
    recall = true_pos / sum(n for (true, _), n in counts.items() if true == "malignant")
    assert (report["precision"], report["recall"]) == (
        pytest.approx(precision),
        pytest.approx(recall),
    )
    assert report["accuracy"] == pytest.approx(sum(t == g for t, g in pairs) / len(pairs))
    names = ["benign", "malignant"]
    training = evaluate_predictions(
        np.array([[i["scores"][name] for name in names] for i in items]),
        np.array([names.index(truth[i["filename"]]) for i in items]),
        np.array([i["patient_id"] for i in items]),
        names,
        threshold=0.8,
        positive_class="malignant",
    )
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert training[key] == pytest.approx(report[key]), key
    malignant = Counter(normalize_id(i["patient_id"]) for i in items if i["label"] == "malignant")
    assert {g["patient_id"]: g["positive_tiles"] for g in summary["patients"]} == {
        normalize_id(f"P{k}"): malignant[normalize_id(f"P{k}")] for k in range(1, 5)
    }


def test_served_labels_follow_the_cards_rule_at_every_threshold(
    tmp_path: Path, postgres_url: str, redis_url: str, red_meter: Path
) -> None:
    env = stack_environment(tmp_path, postgres_url, redis_url, red_meter)
    upgrade(postgres_url)
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    disagreements = {}
    try:
        stack.wait_ready()
        for threshold in (0.2, 0.5, 0.8):
            served = with_threshold(red_meter, tmp_path / f"model-{threshold}", threshold)
            worker = stack.start_worker(INFERQ_MODEL_URI=str(served))
            stack.wait_workers_ready()
            with httpx.Client(base_url=stack.url, timeout=30) as client:
                items = submit_tiles(client)
            disagreements[threshold] = assert_labels_follow_the_card(items, ModelCard.read(served))
            if threshold == 0.8:
                evaluate_and_compare(stack, served, tmp_path)
            stop_process(worker)
    finally:
        stack.stop()
    # Argmax would have served other labels at 0.2 and 0.8: the rule is what decided them.
    assert disagreements[0.5] == 0 and disagreements[0.2] >= 3 and disagreements[0.8] >= 3
