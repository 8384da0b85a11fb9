"""The training commands: `data generate` and `train --quick`, and a TensorFlow-free import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.model_card import ModelCard
from training.cli import data_app, train_app

runner = CliRunner()


def test_importing_the_cli_does_not_import_tensorflow() -> None:
    code = (
        "import sys, training.cli; "
        "bad = {'tensorflow', 'keras'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_generate_writes_the_requested_dataset(tmp_path: Path) -> None:
    result = runner.invoke(data_app, ["generate", "--out", str(tmp_path), "--n", "24"])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.rglob("*.png"))) == 24
    assert "wrote 24 tiles" in result.output


def test_train_needs_quick(tmp_path: Path) -> None:
    result = runner.invoke(train_app, ["--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--quick" in result.output


@pytest.mark.slow
def test_train_explains_a_dataset_too_small_to_split(tmp_path: Path) -> None:
    result = runner.invoke(train_app, ["--quick", "--out", str(tmp_path), "--n", "40"])
    assert result.exit_code == 1
    assert "too few patients" in result.output
    assert not any(tmp_path.iterdir())


def test_train_refuses_an_unknown_architecture(tmp_path: Path) -> None:
    result = runner.invoke(train_app, ["--quick", "--out", str(tmp_path), "--architecture", "x"])
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_train_quick_generates_data_when_none_is_given(tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = runner.invoke(train_app, ["--quick", "--out", str(out), "--n", "120", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    card = ModelCard.read(out)
    assert card.metrics["n_train"] + card.metrics["n_val"] + card.metrics["n_test"] == 120
    assert f"exported {card.name} {card.version}" in result.output
