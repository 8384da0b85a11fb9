"""Quantisation: fp32 and int8 TFLite from the trained model, scored, and held to limits.

Random-weight models on tiny random data: the conversion, the calibration set (training
split only), the recorded scores and the refusal are what is checked, not the accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.model_files import ModelFile
from training.model_zoo import build_model
from training.params import PipelineParams, QuantizationParams
from training.prepare import PreparedSplit
from training.quantize import (
    QuantizationError,
    check_int8,
    convert,
    representative_images,
    run_tflite,
)
from training.registry import RegistryError, register_directory
from training.stages.quantize import quantize_model

CLASSES = ["benign", "malignant"]


def split(count: int, seed: int, size: int = 64) -> PreparedSplit:
    """Return a random labelled split of `count` tiles."""
    rng = np.random.default_rng(seed)
    return PreparedSplit(
        images=rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
        labels=rng.integers(0, 2, count),
        patient_ids=np.array([f"P{i % 5}" for i in range(count)]),
        paths=np.array([f"{i}.png" for i in range(count)]),
    )


def test_calibration_images_come_from_the_training_split_only() -> None:
    train = split(50, seed=1)
    chosen = representative_images(train.images, 20, seed=0)
    assert len(chosen) == 20
    as_rows = {image.tobytes() for image in train.images}
    assert all(image.tobytes() in as_rows for image in chosen)
    assert len(representative_images(train.images, 500, seed=0)) == 50  # at most all of it


@pytest.mark.parametrize("architecture", ["small_cnn", "mobilenet_v2"])
def test_both_precisions_are_written_and_scored(architecture: str, tmp_path: Path) -> None:
    model = build_model(architecture, (64, 64), 2)
    train, test = split(24, seed=1), split(40, seed=2)
    params = PipelineParams(quantization=QuantizationParams(representative_images=16))
    report = quantize_model(model, train, test, CLASSES, params, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model-int8.tflite",
        "model.tflite",
    ]
    assert report["fp32"]["max_difference"] <= 1e-4  # the same model, in LiteRT
    int8 = report["int8"]
    assert int8["accuracy_drop"] == pytest.approx(report["keras"]["accuracy"] - int8["accuracy"])
    assert 0.0 <= int8["label_agreement"] <= 1.0
    outputs = run_tflite(tmp_path / "model-int8.tflite", test.images[:3])
    assert outputs.shape == (3, 2) and np.allclose(outputs.sum(axis=1), 1.0, atol=0.02)


def float_input_int8(model: object, calibration: np.ndarray) -> bytes:
    """Return the converter's int8 file with a float32 input, quantised inside the model."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([i[None].astype(np.float32)] for i in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return bytes(converter.convert())


@pytest.mark.parametrize("architecture", ["small_cnn", "mobilenet_v2"])
def test_int8_takes_uint8_pixels_as_they_are(architecture: str, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    model = build_model(architecture, (64, 64), 2)
    calibration = split(16, seed=1).images // 2 + 60  # calibrated on pixels 60..187 only
    pinned = tmp_path / "pinned.tflite"
    pinned.write_bytes(convert(model, "int8", calibration))
    detail = Interpreter(model_path=str(pinned)).get_input_details()[0]
    assert (detail["dtype"], detail["quantization"]) == (np.uint8, (1.0, 0))
    reference = tmp_path / "float-input.tflite"
    reference.write_bytes(float_input_int8(model, calibration))
    images = split(8, seed=2).images  # 0..255: clipped where calibration never went
    expected = run_tflite(reference, images)
    np.testing.assert_allclose(run_tflite(pinned, images), expected, atol=1e-6)


def int8_entry(accuracy_drop: float, auc_drop: float) -> ModelFile:
    """Return an int8 card entry with these measured losses."""
    metrics = {"accuracy_drop": accuracy_drop, "roc_auc_drop": auc_drop}
    return ModelFile(file="model-int8.tflite", runtime="litert", precision="int8", metrics=metrics)


def test_int8_losing_more_than_allowed_is_refused() -> None:
    limits = {"max_accuracy_drop": 0.005, "max_auc_drop": 0.01}
    check_int8([int8_entry(0.004, 0.0)], **limits)
    check_int8([int8_entry(0.885 - 0.88, 0.0)], **limits)  # one tile of 200: not more
    with pytest.raises(QuantizationError, match=r"loses 0\.0200 accuracy"):
        check_int8([int8_entry(0.02, 0.0)], **limits)
    with pytest.raises(QuantizationError, match=r"0\.0300 AUC"):
        check_int8([int8_entry(0.0, 0.03)], **limits)
    unmeasured = ModelFile(file="model-int8.tflite", runtime="litert", precision="int8")
    with pytest.raises(QuantizationError, match="unmeasured"):
        check_int8([unmeasured], **limits)


def test_registration_refuses_an_int8_model_over_the_limit(
    quantized_model_dir: Path, tmp_path: Path
) -> None:
    from core.model_card import ModelCard

    card = ModelCard.read(quantized_model_dir)
    files = [entry for entry in card.files if entry.precision != "int8"]
    bad = card.model_copy(update={"files": [*files, int8_entry(0.05, 0.0)]})
    with pytest.raises(RegistryError, match=r"loses 0\.0500 accuracy"):
        register_directory(f"sqlite:///{tmp_path / 'mlflow.db'}", quantized_model_dir, bad, "x")
