"""`inferq models`: import a Keras file as a servable directory; promote and roll back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.model_card import CARD_FILE, KERAS_FILE, ModelCard
from core.settings import get_settings
from tests.keras_files import COLOURS, colour_model, grey_model, sigmoid_model

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "model.schema.json").read_text())


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The models a user might bring: softmax, one sigmoid unit, logits, grey input, junk."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = tmp_path_factory.mktemp("keras")
    (root / "junk.keras").write_bytes(b"not a zip file")
    return {
        "colours": colour_model(root / "colours.keras"),
        "sigmoid": sigmoid_model(root / "sigmoid.keras"),
        "logits": colour_model(root / "logits.keras", activation=None),
        "grey": grey_model(root / "grey.keras"),
        "junk": root / "junk.keras",
    }


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner in a scratch folder (MLflow writes its artefacts under the cwd)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERQ_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def import_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["models", "import", str(model), "--input-size", "32", "--out", str(out), *extra]


def test_import_writes_a_directory_the_schema_accepts(
    runner: CliRunner, keras_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "byo"
    extra = ("--classes", ",".join(COLOURS), "--positive-class", "red", "--threshold", "0.7")
    result = runner.invoke(app, import_args(keras_files["colours"], out, *extra))
    assert result.exit_code == 0, result.output
    assert "(softmax)" in result.stdout
    jsonschema.validate(json.loads((out / CARD_FILE).read_text()), SCHEMA)
    card = ModelCard.read(out)
    assert (card.name, card.class_names, card.input_size) == ("colours", COLOURS, (32, 32))
    assert (card.threshold, card.positive_class) == (0.7, "red")
    assert (out / KERAS_FILE).read_bytes() == keras_files["colours"].read_bytes()


def test_one_sigmoid_unit_is_served_as_two_columns(
    runner: CliRunner, keras_files: dict[str, Path], tmp_path: Path
) -> None:
    import keras

    from worker.model_holder import load_model

    out = tmp_path / "binary"
    extra = ("--classes", "dark,bright", "--positive-class", "bright")
    result = runner.invoke(app, import_args(keras_files["sigmoid"], out, *extra))
    assert result.exit_code == 0, result.output
    assert "served as two columns" in result.stdout
    jsonschema.validate(json.loads((out / CARD_FILE).read_text()), SCHEMA)
    images = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    original = keras.models.load_model(keras_files["sigmoid"]).predict(images, verbose=0)[:, 0]
    scores, _ = load_model(str(out), max_batch_size=4).predict(images)  # as the worker does
    assert scores.shape == (4, 2)
    np.testing.assert_allclose(scores[:, 1], original, atol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "extra", "reason"),
    [
        ("colours", ("--classes", "a,b"), "--classes names 2 classes but the model outputs 3"),
        ("sigmoid", ("--classes", "a,b,c"), "one sigmoid unit serves exactly two classes"),
        ("colours", ("--classes", "a,b,c", "--input-size", "64"), "--input-size 64x64 does not"),
        ("grey", ("--classes", "a,b,c"), "workers feed (batch, height, width, 3) RGB"),
        ("logits", ("--classes", "a,b,c"), "not probabilities: end it with a softmax"),
        ("junk", ("--classes", "a,b,c"), "cannot load it as a Keras model"),
        ("colours", ("--classes", "a,b,c", "--threshold", "1.5"), "threshold: Input should be"),
        ("colours", ("--classes", "a,b,c", "--positive-class", "d"), "positive_class: 'd' is not"),
        ("colours", ("--classes", "a,a,b"), "class_names: class names must be unique"),
    ],
)
def test_a_model_that_cannot_keep_the_contract_is_refused(
    runner: CliRunner,
    keras_files: dict[str, Path],
    tmp_path: Path,
    model: str,
    extra: tuple[str, ...],
    reason: str,
) -> None:
    out = tmp_path / "refused"
    result = runner.invoke(app, import_args(keras_files[model], out, *extra))
    assert result.exit_code == 1, result.output
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing half-written


def test_promote_and_rollback_round_trip_through_the_cli(
    runner: CliRunner, keras_files: dict[str, Path], tmp_path: Path
) -> None:
    for version in ("one", "two"):
        args = ("--classes", ",".join(COLOURS), "--name", "byo", "--version", version)
        imported = runner.invoke(
            app, [*import_args(keras_files["colours"], tmp_path / version, *args), "--register"]
        )
        assert imported.exit_code == 0, imported.output
    assert "registered models:/byo@candidate (version 2)" in imported.stdout
    assert runner.invoke(app, ["models", "promote", "byo", "1"]).exit_code == 0
    moved = runner.invoke(app, ["models", "promote", "byo", "2"])
    assert moved.stdout.strip() == "byo@champion: version 1 -> 2"
    back = runner.invoke(app, ["models", "rollback", "byo"])
    assert back.stdout.strip() == "byo@champion: version 2 -> 1"
    listing = [
        json.loads(line)
        for line in runner.invoke(app, ["models", "list", "--json"]).stdout.splitlines()
    ]
    assert [(v["version"], v["card_version"], v["aliases"]) for v in listing] == [
        ("1", "one", ["champion"]),
        ("2", "two", ["candidate"]),
    ]
    again = runner.invoke(app, ["models", "rollback", "byo"])
    assert again.exit_code == 1 and "no earlier version" in again.stderr
    missing = runner.invoke(app, ["models", "promote", "byo", "9"])
    assert missing.exit_code == 1 and "byo has no version '9'" in missing.stderr


def test_schema_command_prints_the_committed_schema(runner: CliRunner) -> None:
    printed = runner.invoke(app, ["models", "schema"])
    assert json.loads(printed.stdout) == SCHEMA
