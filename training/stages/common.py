"""What every stage shares: where its files live, logging, params, and a plain exit on bad data."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from core.logging import configure_logging
from core.settings import get_settings
from training.params import PARAMS_FILE, PipelineParams, load_params

logger = logging.getLogger(__name__)

SYNTHETIC_DIR = Path("data/synthetic")
INDEX_FILE = Path("data/index.csv")
SPLIT_DIR = Path("data/split")
IMAGE_SPLIT_DIR = SPLIT_DIR / "image_level"
PREPARED_DIR = Path("data/prepared")
CANDIDATE_DIR = Path("data/model")
CANDIDATE_MODEL = CANDIDATE_DIR / "model.keras"
HISTORY_FILE = CANDIDATE_DIR / "history.json"
RUN_FILE = CANDIDATE_DIR / "run.json"
REPORTS_DIR = Path("reports")
SPLIT_REPORT = REPORTS_DIR / "split.json"
LEAKAGE_REPORT = REPORTS_DIR / "leakage.json"
LEAKAGE_OUTCOMES = REPORTS_DIR / "leakage_outcomes.csv"
METRICS_FILE = REPORTS_DIR / "metrics.json"
PREDICTIONS_FILE = REPORTS_DIR / "predictions.csv"
PLOTS_DIR = REPORTS_DIR / "plots"
REGISTRATION_FILE = REPORTS_DIR / "registration.json"
QUANTIZED_DIR = Path("data/quantized")
QUANTIZATION_REPORT = REPORTS_DIR / "quantization.json"
MODEL_DIR = Path("models/default")
SPLITS = ("train", "val", "test")


def write_json(data: Any, path: Path) -> Path:
    """Write data as indented JSON, making the folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text())


def run_stage(stage: Callable[[PipelineParams], str], params_file: Path = PARAMS_FILE) -> None:
    """Configure logging, read params, run a stage and echo its summary; exit 1 on bad data."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner quiet
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        summary = stage(load_params(params_file))
    except ValueError as exc:  # unusable data or params: say why, without a traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(summary)


def stage_command(stage: Callable[[PipelineParams], str]) -> Callable[[Path], None]:
    """Wrap a stage as a typer command taking --params."""

    def command(
        params: Path = typer.Option(PARAMS_FILE, "--params", help="Pipeline parameters file."),
    ) -> None:
        run_stage(stage, params)

    command.__doc__ = stage.__doc__
    return command
