"""The pipeline's parameters: `params.yaml`, validated, one section per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.preprocessing import Resample
from training.defaults import ARCHITECTURES, DEFAULT_TILES

PARAMS_FILE = Path("params.yaml")

Layout = Literal["auto", "folders", "breakhis", "idc", "manifest"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_PATIENTS = 100  # 10 tiles each: a 20% test split holds 20 patients


class GenerateParams(_Section):
    """The synthetic dataset the pipeline trains on by default."""

    n_tiles: int = Field(DEFAULT_TILES, ge=2)
    n_patients: int | None = Field(DEFAULT_PATIENTS, ge=2)  # None: one per 20 tiles
    tile_size: int = Field(96, ge=16)


class IngestParams(_Section):
    """Where the images come from and how their folder is laid out."""

    source: Path = Path("data/synthetic")
    layout: Layout = "auto"
    magnification: int | None = None


class SplitParams(_Section):
    """Patient-level split ratios, and the fewest test patients a report may rest on."""

    train: float = Field(0.65, ge=0)
    val: float = Field(0.15, ge=0)
    test: float = Field(0.2, gt=0)
    min_test_patients: int = Field(20, ge=1)

    @property
    def ratios(self) -> tuple[float, float, float]:
        """Return (train, val, test)."""
        return (self.train, self.val, self.test)


class PrepareParams(_Section):
    """How core.preprocessing decodes every image."""

    input_size: tuple[int, int] = (96, 96)
    resample: Resample = "bilinear"


class TrainParams(_Section):
    """The model and how it is fitted."""

    architecture: str = "small_cnn"
    weights: Literal["imagenet"] | None = None
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int = Field(6, ge=1)
    class_weights: bool = True

    @field_validator("architecture")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}")
        return value


class LeakageParams(_Section):
    """Whether to train the image-level (leaky) comparison model."""

    enabled: bool = True


class EvaluateParams(_Section):
    """The decision rule the evaluation and the served model use."""

    threshold: float = Field(0.5, ge=0, le=1)
    positive_class: str | None = "malignant"


class QuantizationParams(_Section):
    """TFLite fp32 and int8 files beside the Keras model, and how much int8 may lose."""

    enabled: bool = True  # false: model.keras alone
    int8: bool = True  # false: fp32 TFLite only
    representative_images: int = Field(200, ge=1)  # drawn from the training split only
    max_accuracy_drop: float = Field(0.005, ge=0, le=1)  # fp32 minus int8, test split
    max_auc_drop: float = Field(0.01, ge=0, le=1)


class RegistryParams(_Section):
    """The MLflow registered model and the alias the workers load."""

    model_name: str | None = None
    alias: str = "champion"
    allow_dirty: bool = False  # export from a tree with uncommitted changes (card: git_dirty)


class PipelineParams(_Section):
    """Every section of `params.yaml`."""

    seed: int = 0
    generate: GenerateParams = GenerateParams()
    ingest: IngestParams = IngestParams()
    split: SplitParams = SplitParams()
    prepare: PrepareParams = PrepareParams()
    train: TrainParams = TrainParams()
    leakage: LeakageParams = LeakageParams()
    evaluate: EvaluateParams = EvaluateParams()
    quantization: QuantizationParams = QuantizationParams()
    registry: RegistryParams = RegistryParams()


def load_params(path: Path = PARAMS_FILE) -> PipelineParams:
    """Read and validate the pipeline parameters (defaults where the file is silent)."""
    raw: Any = yaml.safe_load(path.read_text()) if path.exists() else {}
    return PipelineParams.model_validate(raw or {})


def flatten_params(params: PipelineParams) -> dict[str, str]:
    """Return the parameters as dotted keys and strings, as MLflow logs them."""
    flat: dict[str, str] = {}
    for section, value in params.model_dump(mode="json").items():
        if isinstance(value, dict):
            flat.update({f"{section}.{key}": str(item) for key, item in value.items()})
        else:
            flat[section] = str(value)
    return flat
