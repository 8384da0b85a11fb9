"""The runtimes `inferq bench --runtime` compares, and the TFLite files they need."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RUNTIMES = {
    "tensorflow": ("tensorflow", "fp32"),
    "litert-fp32": ("litert", "fp32"),
    "litert-int8": ("litert", "int8"),
}
MODES = ("bulk", "single", "predict")


def runtimes(choice: str) -> list[str]:
    """Return the runtimes a --runtime value names (all: each in turn)."""
    if choice == "all":
        return list(RUNTIMES)
    if choice not in RUNTIMES:
        raise ValueError(f"--runtime must be all or one of {', '.join(RUNTIMES)}")
    return [choice]


def add_tflite(model_dir: Path, tiles: list[bytes], size: tuple[int, int]) -> None:
    """Convert the exported model to fp32 and int8 TFLite, calibrated on these tiles."""
    from core.preprocessing import decode_image
    from training.quantize import quantize_directory

    calibration = np.stack([decode_image(data, size) for data in tiles])
    quantize_directory(model_dir, calibration)
