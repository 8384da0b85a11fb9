"""The smoke check a model passes before a worker serves it.

Always: the outputs of a few tiles are finite probabilities, one per class. When the
directory holds the tiles stored at export (core.model_card.SMOKE_FILE), the loaded model
must also reproduce the outputs recorded then for its precision (`outputs` for fp32, in
either runtime; `outputs_int8` for int8), within the tolerance its card entry records.
"""

from __future__ import annotations

import numpy as np

from core.model_card import SMOKE_FILE, SMOKE_TOLERANCE
from worker.model_holder import LoadedModel


class SmokeCheckError(RuntimeError):
    """The model loaded but does not give the outputs it must."""


def smoke_tiles(model: LoadedModel) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the stored tiles and outputs, or a black and a white tile with no outputs."""
    path = model.source.directory / SMOKE_FILE
    if path.exists():
        with np.load(path) as stored:
            key = model.file.smoke_key
            if key not in stored.files:
                raise SmokeCheckError(f"{SMOKE_FILE} records no {key} for {model.file.file}")
            return stored["tiles"], stored[key]
    height, width = model.card.input_size
    tiles = np.zeros((2, height, width, 3), dtype=np.uint8)
    tiles[1] = 255
    return tiles, None


def check_outputs(
    outputs: np.ndarray,
    expected: np.ndarray | None,
    classes: int,
    tolerance: float = SMOKE_TOLERANCE,
) -> None:
    """Raise SmokeCheckError unless the outputs are sound (and match those expected)."""
    if outputs.ndim != 2 or outputs.shape[1] != classes:
        raise SmokeCheckError(f"outputs have shape {outputs.shape}; the card names {classes}")
    if not np.isfinite(outputs).all():
        raise SmokeCheckError("outputs are not finite")
    if outputs.min() < -SMOKE_TOLERANCE or outputs.max() > 1 + SMOKE_TOLERANCE:
        raise SmokeCheckError("outputs are not probabilities in [0, 1]")
    if expected is not None:
        difference = (
            float(np.abs(outputs - expected).max()) if expected.shape == outputs.shape else 1.0
        )
        if difference > tolerance:
            raise SmokeCheckError(
                f"outputs differ from those recorded at export by {difference:.3g} "
                f"(tolerance {tolerance:g})"
            )


def smoke_check(model: LoadedModel) -> None:
    """Run the model on its smoke tiles; raise SmokeCheckError if it is not sound."""
    tiles, expected = smoke_tiles(model)
    if tiles.shape[1:3] != tuple(model.card.input_size):
        raise SmokeCheckError(
            f"smoke tiles are {tiles.shape[1:3]}, the card says {model.card.input_size}"
        )
    outputs, _ = model.predict(tiles)
    outputs = np.asarray(outputs, dtype=np.float32)
    classes = len(model.card.class_names)
    check_outputs(outputs, expected, classes, model.file.smoke_tolerance)
