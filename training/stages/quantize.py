"""Stage `quantize`: the evaluated model as fp32 and int8 TFLite, each scored on the test split.

Writes `data/quantized/` (`model.tflite`, `model-int8.tflite` and `smoke.npz`: the smoke
tiles with the Keras outputs and the int8 file's own) and `reports/quantization.json`
(accuracy and ROC AUC per precision, int8's drops from fp32 and its label agreement). The
int8 file is calibrated on training images only. The export stage copies the files into
the model directory and refuses an int8 file that lost more than params allow.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import typer

from core.model_card import SMOKE_FILE, SMOKE_TOLERANCE
from core.model_files import Precision
from training.params import PipelineParams
from training.prepare import PreparedSplit, load_split
from training.quantize import (
    TFLITE_FILES,
    QuantizationError,
    compare,
    representative_images,
    run_tflite,
    score,
    write_tflite,
)
from training.stages.common import (
    CANDIDATE_DIR,
    CANDIDATE_MODEL,
    PREPARED_DIR,
    QUANTIZATION_REPORT,
    QUANTIZED_DIR,
    read_json,
    stage_command,
    write_json,
)

logger = logging.getLogger(__name__)


def write_smoke(smoke: Path, paths: dict[Precision, Path], out_dir: Path) -> None:
    """Store the smoke tiles with each precision's outputs; fp32 must match Keras's."""
    with np.load(smoke) as stored:
        tiles, outputs = stored["tiles"], stored["outputs"]
    arrays = {"tiles": tiles, "outputs": outputs}
    for precision, path in paths.items():
        produced = run_tflite(path, tiles)
        if precision == "fp32":
            difference = float(np.abs(produced - outputs).max())
            if difference > SMOKE_TOLERANCE:
                raise QuantizationError(f"{path.name} differs from Keras by {difference:.3g}")
        else:
            arrays[f"outputs_{precision}"] = produced
    np.savez_compressed(out_dir / SMOKE_FILE, **arrays)  # type: ignore[arg-type]


def quantize_model(
    model: Any,
    train: PreparedSplit,
    test: PreparedSplit,
    class_names: list[str],
    params: PipelineParams,
    out_dir: Path,
) -> dict[str, dict[str, float]]:
    """Write the TFLite files into out_dir and return each one's test-split scores."""
    from training.train import predict_probabilities

    settings = params.quantization
    precisions: tuple[Precision, ...] = ("fp32", "int8") if settings.int8 else ("fp32",)
    representative = representative_images(
        train.images, settings.representative_images, params.seed
    )
    paths = write_tflite(model, representative, out_dir, precisions)
    rule = (class_names, params.evaluate.threshold, params.evaluate.positive_class)
    keras_scores = predict_probabilities(model, test.images)
    keras = score(keras_scores, test.labels, *rule)
    report: dict[str, dict[str, float]] = {"keras": keras[1]}
    for precision, path in paths.items():
        probabilities = run_tflite(path, test.images)
        scored = score(probabilities, test.labels, *rule)
        report[precision] = compare(keras, scored)
        report[precision]["max_difference"] = float(np.abs(probabilities - keras_scores).max())
    return report


def quantize(params: PipelineParams) -> str:
    """Convert the candidate to TFLite fp32 and int8 and score each on the test split."""
    shutil.rmtree(QUANTIZED_DIR, ignore_errors=True)
    if not params.quantization.enabled:
        write_json({"enabled": False}, QUANTIZATION_REPORT)
        QUANTIZED_DIR.mkdir(parents=True)
        return "quantization disabled: model.keras alone"
    import keras

    names: list[str] = read_json(PREPARED_DIR / "meta.json")["class_names"]
    model = keras.models.load_model(CANDIDATE_MODEL, compile=False)
    train, test = (load_split(PREPARED_DIR / f"{name}.npz") for name in ("train", "test"))
    report = quantize_model(model, train, test, names, params, QUANTIZED_DIR)
    paths = {key: QUANTIZED_DIR / name for key, name in TFLITE_FILES.items() if key in report}
    write_smoke(CANDIDATE_DIR / SMOKE_FILE, paths, QUANTIZED_DIR)
    write_json({"enabled": True, "precisions": report}, QUANTIZATION_REPORT)
    parts = [f"{key} accuracy {value['accuracy']:.4f}" for key, value in report.items()]
    if "int8" in report:
        parts.append(f"int8 drop {report['int8']['accuracy_drop']:+.4f}")
    return "; ".join(parts)


if __name__ == "__main__":
    typer.run(stage_command(quantize))
