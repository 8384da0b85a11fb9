"""Which files a model directory carries, what runs each, and which one a worker serves.

A directory holds `model.keras` (TensorFlow, fp32), and may hold `model.tflite` (LiteRT,
fp32) and `model-int8.tflite` (LiteRT, full-integer int8). The card lists them; a card
that lists none describes the Keras file alone. `INFERQ_RUNTIME` and `INFERQ_PRECISION`
narrow the choice; `auto` takes the fastest file the directory offers and this process
can run (LiteRT int8, then LiteRT fp32, then TensorFlow).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
INT8_FILE = "model-int8.tflite"
MODEL_FILES = (KERAS_FILE, TFLITE_FILE, INT8_FILE)

SMOKE_TOLERANCE = 1e-3  # largest difference in a probability a reloaded fp32 model may show
# int8 outputs move in steps of 1/256 and kernels may round differently on another CPU.
INT8_SMOKE_TOLERANCE = 0.02

RuntimeName = Literal["tensorflow", "litert"]
Precision = Literal["fp32", "int8"]
RUNTIMES: tuple[RuntimeName, ...] = ("tensorflow", "litert")
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")
# The module each runtime imports: a runtime whose module is missing is not offered.
RUNTIME_MODULES: dict[RuntimeName, str] = {"tensorflow": "tensorflow", "litert": "ai_edge_litert"}
# Fastest first: what `auto` prefers among the files present.
PREFERENCE: tuple[tuple[RuntimeName, Precision], ...] = (
    ("litert", "int8"),
    ("litert", "fp32"),
    ("tensorflow", "fp32"),
)


class ModelChoiceError(ValueError):
    """Raised when no file of a model directory fits the runtime and precision asked for."""


class ModelFile(BaseModel):
    """One file of the model directory: what runs it, at what precision, how well it does."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    file: Literal["model.keras", "model.tflite", "model-int8.tflite"]
    runtime: RuntimeName = Field(description="What runs it: tensorflow or litert.")
    precision: Precision = Field(description="Numbers it computes in: fp32 or int8.")
    smoke_tolerance: float = Field(
        SMOKE_TOLERANCE,
        gt=0,
        le=1,
        description="Largest difference from its recorded smoke outputs a worker accepts.",
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Test-split scores of this file: accuracy and roc_auc; for int8 also "
        "accuracy_drop and roc_auc_drop (fp32 minus int8) and label_agreement (share of "
        "test images it labels as fp32 does).",
    )

    @property
    def smoke_key(self) -> str:
        """Return the array of smoke.npz that holds this file's expected outputs."""
        return "outputs" if self.precision == "fp32" else f"outputs_{self.precision}"


KERAS_ENTRY = ModelFile(file=KERAS_FILE, runtime="tensorflow", precision="fp32")


def listed_files(files: list[ModelFile]) -> list[ModelFile]:
    """Return a card's files, or the Keras file alone when the card lists none."""
    return list(files) or [KERAS_ENTRY]


def installed_runtimes() -> set[RuntimeName]:
    """Return the runtimes this process can import."""
    return {name for name in RUNTIMES if find_spec(RUNTIME_MODULES[name]) is not None}


def describe(files: list[ModelFile]) -> str:
    """Return `file (runtime precision)` for each file, for messages."""
    return ", ".join(f"{entry.file} ({entry.runtime} {entry.precision})" for entry in files)


def choose_file(
    files: list[ModelFile],
    directory: Path,
    *,
    runtime: str = "auto",
    precision: str = "auto",
    installed: set[RuntimeName] | None = None,
) -> ModelFile:
    """Return the file to serve; ModelChoiceError says what the directory offers instead."""
    installed = installed_runtimes() if installed is None else installed
    present = [entry for entry in listed_files(files) if (directory / entry.file).exists()]
    wanted = [
        entry
        for entry in present
        if runtime in ("auto", entry.runtime) and precision in ("auto", entry.precision)
    ]
    runnable = [entry for entry in wanted if entry.runtime in installed]
    for key in PREFERENCE:
        for entry in runnable:
            if (entry.runtime, entry.precision) == key:
                return entry
    asked = f"runtime {runtime}, precision {precision}"
    if wanted:
        raise ModelChoiceError(
            f"{directory}: {describe(wanted)} fits {asked} but this process has no "
            f"{', '.join(sorted({entry.runtime for entry in wanted}))} installed"
        )
    offered = describe(present) or "no model file"
    raise ModelChoiceError(f"{directory}: nothing fits {asked}; it holds {offered}")
