"""The model contract: `model.json` beside the exported Keras model.

Its JSON Schema, `docs/model.schema.json`, is generated from `ModelCard` by `inferq models
schema`; a test keeps the committed file equal to what this module generates.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from core.model_files import INT8_FILE as INT8_FILE  # re-exported: the card's file names
from core.model_files import KERAS_FILE as KERAS_FILE
from core.model_files import SMOKE_TOLERANCE as SMOKE_TOLERANCE
from core.model_files import TFLITE_FILE as TFLITE_FILE
from core.model_files import ModelFile, listed_files
from core.resampling import Resample

logger = logging.getLogger(__name__)

CARD_FILE = "model.json"
SMOKE_FILE = "smoke.npz"  # a few uint8 tiles and the outputs the model gave them at export
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Pixels = Annotated[int, Field(ge=1)]
ClassName = Annotated[str, Field(min_length=1)]
# Unknown fields are ignored when read (a newer card still loads) but the schema forbids
# them, so an editor or `check-jsonschema` catches a misspelt field before a worker does.
CLOSED = ConfigDict(json_schema_extra={"additionalProperties": False})


class CardError(ValueError):
    """Raised when a model card is invalid; the one-line message names the field."""


class Preprocessing(BaseModel):
    """How core.preprocessing must be called for this model."""

    model_config = CLOSED

    input_size: tuple[Pixels, Pixels] = Field(description="(height, width) in pixels")
    resample: Resample = Field("bilinear", description="Filter that resizes images to input_size.")
    color_mode: Literal["rgb"] = Field("rgb", description="Channels, in order: red, green, blue.")
    dtype: Literal["uint8"] = Field(
        "uint8", description="Pixels reach the model as 0-255; any rescaling is inside the model."
    )


class PatientRule(BaseModel):
    """How a patient's tiles become one call: sensitive, so a focal tumour is not averaged away.

    A patient is called `positive_class` when at least `min_tiles` tiles score at or above
    `tile_threshold`, OR at least `min_fraction` of the classified tiles (and at least one)
    reach the card's `threshold`. Below `min_coverage` classified/submitted images the
    patient is `incomplete` and gets no call.
    """

    model_config = CLOSED

    min_tiles: int = Field(
        2, ge=1, description="Tiles at or above tile_threshold that make a patient positive."
    )
    tile_threshold: float = Field(
        0.9, ge=0, le=1, description="The high score on positive_class that min_tiles counts."
    )
    min_fraction: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of classified tiles at or above the card's threshold that also "
        "makes a patient positive (at least one tile).",
    )
    min_coverage: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Classified / submitted images below which a patient is incomplete: no call.",
    )


class TrainingImages(BaseModel):
    """What the training images looked like, so inputs unlike them can be flagged.

    Every field is optional: null means unknown, and an unknown property is never checked.
    """

    model_config = CLOSED

    color_mode: Literal["rgb", "grayscale"] | None = Field(
        None,
        description="rgb when any training image had colour; grayscale when none had (equal "
        "channels). A colour model is flagged on grayscale input.",
    )
    tile_size: tuple[Pixels, Pixels] | None = Field(
        None,
        description="(height, width) of the training images before resizing (the median). "
        "An input whose area differs by the scale tolerance is flagged: it is seen at "
        "another scale.",
    )
    pixel_size_um: float | None = Field(
        None, gt=0, description="Micrometres per pixel of the training images, if known."
    )
    magnification: float | None = Field(
        None, gt=0, description="Objective magnification of the training images, if known."
    )


class ModelCard(BaseModel):
    """What a served model is, what it expects, and how well it did when trained."""

    model_config = CLOSED

    name: str = Field(min_length=1, description="Registered model name, e.g. inferq-small-cnn.")
    version: str = Field(min_length=1, description="Version string recorded on every result.")
    class_names: list[ClassName] = Field(
        min_length=2,
        description="One per model output column, in the model's output order.",
        json_schema_extra={"uniqueItems": True},
    )
    input_size: tuple[Pixels, Pixels] = Field(description="(height, width) the model takes.")
    preprocessing: Preprocessing
    threshold: float = Field(
        0.5, ge=0, le=1, description="Score on positive_class at which a tile counts positive."
    )
    positive_class: str | None = Field(
        None, description="The class the per-patient call looks for; one of class_names."
    )
    patient_rule: PatientRule = Field(
        default_factory=PatientRule,
        description="The per-patient call's parameters; a card without them gets the defaults.",
    )
    data_hash: str = Field("", description="Hash of the training data, empty if unknown.")
    git_commit: str = Field(
        "", description="Commit the model was exported from; empty outside git."
    )
    architecture: str = ""
    metrics: dict[str, float] = Field(default_factory=dict, description="Recorded at training.")
    git_dirty: bool = Field(
        False,
        description="Whether the working tree differed from git_commit at export (exported "
        "with --allow-dirty): the commit does not fully describe the code.",
    )
    dvc_data_hash: str = Field(
        "",
        description="md5 of the prepared data (data/prepared) the train stage consumed, as "
        "dvc.lock recorded it; empty when not trained by the pipeline.",
    )
    training_images: TrainingImages = Field(
        default_factory=TrainingImages,
        description="Colour mode, tile size and scale of the training images (all optional).",
    )
    files: list[ModelFile] = Field(
        default_factory=list,
        description="The model files of the directory, each with its runtime, precision and "
        "test scores; empty means model.keras alone (tensorflow, fp32).",
    )

    @property
    def model_files(self) -> list[ModelFile]:
        """Return the files this card describes (model.keras alone when it lists none)."""
        return listed_files(self.files)

    @field_validator("class_names")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"class names must be unique; repeated: {', '.join(repeated)}")
        return names

    @field_validator("positive_class")
    @classmethod
    def _among_classes(cls, positive: str | None, info: ValidationInfo) -> str | None:
        names = info.data.get("class_names")
        if positive is not None and names is not None and positive not in names:
            raise ValueError(f"{positive!r} is not one of class_names {names}")
        return positive

    @field_validator("preprocessing")
    @classmethod
    def _same_size(cls, preprocessing: Preprocessing, info: ValidationInfo) -> Preprocessing:
        size = info.data.get("input_size")
        if size is not None and tuple(preprocessing.input_size) != tuple(size):
            raise ValueError(
                f"input_size {preprocessing.input_size} differs from the card's {size}"
            )
        return preprocessing

    def write(self, directory: Path) -> Path:
        """Write `model.json` into a model directory."""
        path = directory / CARD_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read `model.json` from a model directory; CardError names what is wrong."""
        path = directory / CARD_FILE
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CardError(f"{path}: not valid JSON ({exc})") from exc
        return validate_card(data, source=str(path))


def describe_errors(error: ValidationError) -> str:
    """Return pydantic's errors as one line: `field: reason (got value)`, joined by `; `."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "card"
        reason = str(item["msg"]).removeprefix("Value error, ")
        value = item.get("input")
        scalar = isinstance(value, int | float | str) and repr(value) not in reason
        shown = f" (got {value!r})" if scalar else ""
        parts.append(f"{field}: {reason}{shown}")
    return "; ".join(parts)


def validate_card(data: Any, *, source: str = CARD_FILE) -> ModelCard:
    """Return the card in `data`, or raise CardError with one line naming each bad field."""
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as exc:
        raise CardError(f"{source}: {describe_errors(exc)}") from exc
    unknown = sorted(set(data) - set(ModelCard.model_fields)) if isinstance(data, dict) else []
    if unknown:
        logger.warning("%s: ignoring unknown fields %s", source, ", ".join(unknown))
    return card


def card_schema() -> dict[str, Any]:
    """Return the JSON Schema of `model.json` (committed as docs/model.schema.json)."""
    return {"$schema": SCHEMA_DIALECT, **ModelCard.model_json_schema()}


def card_schema_text() -> str:
    """Return the schema as the committed file holds it: indented JSON and a newline."""
    return json.dumps(card_schema(), indent=2) + "\n"
