"""Post-training quantisation: the trained model as fp32 and full-integer int8 TFLite.

The int8 file is calibrated on a representative set drawn from the TRAINING split only
(never validation or test, which must stay unseen), with every operator in int8
(`TFLITE_BUILTINS_INT8`: conversion fails rather than leave a float operator behind);
its input is uint8 pixels as they are (scale 1, zero point 0: the model's own first step
requantises them), so a worker hands its uint8 batch over without a float copy, and its
output stays float32. Each file is scored on the test
split by the LiteRT interpreter workers use (core.litert) with the shared metrics, and the
card records each precision's accuracy and AUC, the drops from fp32 and how often int8
labels agree with fp32. `check_int8` refuses an int8 file that lost too much.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.litert import LiteRTRunner
from core.metrics import score_tiles
from core.model_files import (
    INT8_FILE,
    INT8_SMOKE_TOLERANCE,
    KERAS_ENTRY,
    TFLITE_FILE,
    ModelFile,
    Precision,
)
from training.report import decision_rule

logger = logging.getLogger(__name__)

TFLITE_FILES: dict[Precision, str] = {"fp32": TFLITE_FILE, "int8": INT8_FILE}
SCORE_BATCH = 64
#: Scores are shares of the test set, so one tile of 200 is 0.005 of accuracy, yet
#: 0.885 - 0.88 is 0.0050000000000000044 in floats: drops within this of a limit pass.
ROUNDING_SLACK = 1e-9


class QuantizationError(ValueError):
    """Raised when an int8 model loses more than allowed; the message gives the figures."""


def representative_images(train_images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Return up to `count` training images, drawn without replacement, to calibrate int8."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train_images), size=min(count, len(train_images)), replace=False)
    return train_images[np.sort(chosen)]


def convert(model: Any, precision: Precision, representative: np.ndarray | None = None) -> bytes:
    """Return the model as TFLite bytes: fp32, or full-integer int8 calibrated on images."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "int8":
        if representative is None or not len(representative):
            raise QuantizationError("int8 needs a representative set of training images")

        def calibration() -> Iterator[list[np.ndarray]]:
            for image in representative:
                yield [image[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # it prints the saved graph
        converted = bytes(converter.convert())
    logger.debug("converter said: %s", printed.getvalue())
    return pin_pixel_input(converted) if precision == "int8" else converted


def pin_pixel_input(content: bytes) -> bytes:
    """Return a uint8-input TFLite model whose input is read as raw pixels (scale 1, zero 0).

    The converter gives the uint8 input the scale calibration saw (0.94 when the brightest
    calibration pixel was 239), so a worker would have to requantise every batch in numpy.
    Every quantised operator reads its input's scale from the tensor, so declaring the
    input as plain 0..255 keeps the model's arithmetic: its first QUANTIZE op requantises
    the pixels to the calibrated int8 scale inside the interpreter, as it did floats.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    for index in graph.inputs:
        tensor = graph.tensors[index]
        if tensor.type != schema.TensorType.UINT8:
            raise QuantizationError(f"int8 model input {tensor.name!r} is not uint8")
        tensor.quantization.scale, tensor.quantization.zeroPoint = [1.0], [0]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def write_tflite(
    model: Any, representative: np.ndarray, out_dir: Path, precisions: tuple[Precision, ...]
) -> dict[Precision, Path]:
    """Convert the model to each precision and write its file into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[Precision, Path] = {}
    for precision in precisions:
        path = out_dir / TFLITE_FILES[precision]
        path.write_bytes(convert(model, precision, representative))
        written[precision] = path
        logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return written


def run_tflite(path: Path, images: np.ndarray, threads: int = 0) -> np.ndarray:
    """Return a TFLite file's probabilities for uint8 images, as a worker computes them."""
    runner = LiteRTRunner(path, threads=threads or 2)
    return runner.predict(images, SCORE_BATCH)


def score(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    threshold: float,
    positive_class: str | None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Return the predicted labels and the accuracy and ROC AUC under the card's rule."""
    rule = decision_rule(class_names, threshold, positive_class)
    predicted = rule.indices(probabilities)
    tiles = score_tiles(probabilities, labels, predicted, rule.positive_index)
    return predicted, {"accuracy": float(tiles.accuracy), "roc_auc": float(tiles.roc_auc)}


def compare(
    fp32: tuple[np.ndarray, dict[str, float]], int8: tuple[np.ndarray, dict[str, float]]
) -> dict[str, float]:
    """Return int8's metrics with the drops from fp32 and the share of labels it agrees on."""
    (fp32_labels, fp32_metrics), (int8_labels, int8_metrics) = fp32, int8
    return int8_metrics | {
        "accuracy_drop": fp32_metrics["accuracy"] - int8_metrics["accuracy"],
        "roc_auc_drop": fp32_metrics["roc_auc"] - int8_metrics["roc_auc"],
        "label_agreement": float(np.mean(fp32_labels == int8_labels)),
    }


def file_entries(report: dict[str, dict[str, float]]) -> list[ModelFile]:
    """Return the card's file list from a quantisation report (precision -> metrics)."""
    entries = [KERAS_ENTRY.model_copy(update={"metrics": report.get("keras", {})})]
    if "fp32" in report:
        entries.append(
            ModelFile(file=TFLITE_FILE, runtime="litert", precision="fp32", metrics=report["fp32"])
        )
    if "int8" in report:
        entries.append(
            ModelFile(
                file=INT8_FILE,
                runtime="litert",
                precision="int8",
                smoke_tolerance=INT8_SMOKE_TOLERANCE,
                metrics=report["int8"],
            )
        )
    return entries


def check_int8(files: list[ModelFile], *, max_accuracy_drop: float, max_auc_drop: float) -> None:
    """Refuse an int8 file whose accuracy or AUC fell more than allowed below fp32."""
    for entry in files:
        if entry.precision != "int8":
            continue
        if "accuracy_drop" not in entry.metrics or "roc_auc_drop" not in entry.metrics:
            raise QuantizationError(
                f"{entry.file} records no accuracy_drop and roc_auc_drop: its loss is unmeasured"
            )
        accuracy_drop, auc_drop = entry.metrics["accuracy_drop"], entry.metrics["roc_auc_drop"]
        over = ROUNDING_SLACK  # a drop of exactly the limit is allowed despite float rounding
        if accuracy_drop > max_accuracy_drop + over or auc_drop > max_auc_drop + over:
            raise QuantizationError(
                f"{entry.file} loses {accuracy_drop:.4f} accuracy and {auc_drop:.4f} AUC against "
                f"fp32 on the test split (allowed {max_accuracy_drop:g} and {max_auc_drop:g}: "
                "quantization.max_accuracy_drop / max_auc_drop); set quantization.int8: false "
                "to serve fp32 only"
            )


def quantize_directory(directory: Path, calibration: np.ndarray) -> list[ModelFile]:
    """Add fp32 and int8 TFLite files to an exported model directory, with their smoke outputs.

    For directories whose card has no test split to score on (random-weight benchmarks,
    tests): the card lists the files with no metrics, so registration refuses the int8 one.
    """
    import keras

    from core.model_card import SMOKE_FILE, ModelCard

    model = keras.models.load_model(directory / KERAS_ENTRY.file, compile=False)
    paths = write_tflite(model, calibration, directory, ("fp32", "int8"))
    with np.load(directory / SMOKE_FILE) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["outputs_int8"] = run_tflite(paths["int8"], arrays["tiles"])
    np.savez_compressed(directory / SMOKE_FILE, **arrays)  # type: ignore[arg-type]
    files = file_entries({"keras": {}, "fp32": {}, "int8": {}})
    card = ModelCard.read(directory)
    card.model_copy(update={"files": files}).write(directory)
    return files
