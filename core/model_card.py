"""The model contract: `model.json` beside the exported Keras model."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

CARD_FILE = "model.json"
KERAS_FILE = "model.keras"
SMOKE_FILE = "smoke.npz"  # a few uint8 tiles and the outputs the model gave them at export
SMOKE_TOLERANCE = 1e-3  # largest difference in a probability a reloaded model may show


class Preprocessing(BaseModel):
    """How core.preprocessing must be called for this model."""

    input_size: tuple[int, int] = Field(description="(height, width) in pixels")
    resample: str = "bilinear"
    color_mode: str = "rgb"
    dtype: str = "uint8"


class ModelCard(BaseModel):
    """What a served model is, what it expects, and how well it did when trained."""

    name: str
    version: str
    class_names: list[str]
    input_size: tuple[int, int]
    preprocessing: Preprocessing
    threshold: float = 0.5
    positive_class: str | None = None
    data_hash: str = ""
    git_commit: str = ""
    architecture: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)

    def write(self, directory: Path) -> Path:
        """Write `model.json` into a model directory."""
        path = directory / CARD_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read `model.json` from a model directory."""
        return cls.model_validate(json.loads((directory / CARD_FILE).read_text()))
