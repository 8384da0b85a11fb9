"""The LiteRT runtime: a `.tflite` file run by the interpreter with XNNPACK, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.litert import LiteRTRunner
from core.model_card import ModelCard
from core.model_files import ModelFile
from worker.model_holder import LoadedModel
from worker.model_source import ModelSource


@dataclass
class LiteRTModel(LoadedModel):
    """A `.tflite` model with a fixed number of XNNPACK threads, one interpreter per chunk size."""

    runner: LiteRTRunner | None = None

    def run(self, chunk: np.ndarray) -> np.ndarray:
        """Return class probabilities for one uint8 chunk."""
        assert self.runner is not None
        return self.runner.run_batch(chunk)


def load_litert(
    card: ModelCard, source: ModelSource, entry: ModelFile, max_batch_size: int, threads: int
) -> LiteRTModel:
    """Read a `.tflite` file into a runner with this many threads."""
    runner = LiteRTRunner(source.directory / entry.file, threads=threads)
    return LiteRTModel(card, source, entry, max_batch_size, runner=runner)
