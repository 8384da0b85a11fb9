"""Load the served model once per process and run it on whole batches.

The model directory's card lists its files (core.model_files); the runtime and precision
asked for choose one, and its runtime's holder loads it: worker.keras_model (TensorFlow)
or worker.litert_model (LiteRT, no TensorFlow). Each imports its runtime inside functions,
after the worker process has started: the parent of a prefork pool and the gateway never
import it, and a LiteRT worker never imports TensorFlow at all.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.model_card import ModelCard
from core.model_files import ModelFile, Precision, RuntimeName, choose_file
from worker.model_source import ModelSource, resolve_model

logger = logging.getLogger(__name__)


def usable_cpus() -> int:
    """Return how many CPUs this process may run on (affinity and cgroup quota)."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


@dataclass
class LoadedModel:
    """A model file with its card, run on uint8 batches by one runtime.

    Subclasses implement `run` for one chunk of at most `max_batch_size` images.
    """

    card: ModelCard
    source: ModelSource
    file: ModelFile
    max_batch_size: int

    @property
    def runtime(self) -> RuntimeName:
        """Return what runs the model: tensorflow or litert."""
        return self.file.runtime

    @property
    def precision(self) -> Precision:
        """Return the precision of the served file: fp32 or int8."""
        return self.file.precision

    def run(self, chunk: np.ndarray) -> np.ndarray:
        """Return class probabilities for one contiguous uint8 chunk."""
        raise NotImplementedError

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        """Return class probabilities for a uint8 batch and the model time in ms."""
        outputs = []
        started = time.perf_counter()
        for start in range(0, len(images), self.max_batch_size):
            chunk = np.ascontiguousarray(images[start : start + self.max_batch_size])
            outputs.append(np.asarray(self.run(chunk), dtype=np.float32))
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return np.concatenate(outputs), elapsed_ms

    def warm_up(self) -> None:
        """Run a full and a single-image batch, so no request pays for first-use set-up."""
        height, width = self.card.input_size
        for size in (self.max_batch_size, 1):
            self.predict(np.zeros((size, height, width, 3), dtype=np.uint8))


def load_model(
    uri: str,
    *,
    max_batch_size: int,
    threads: int = 0,
    runtime: str = "auto",
    precision: str = "auto",
    litert_threads: int = 0,
) -> LoadedModel:
    """Load the model a URI names in the runtime and precision asked for; warm it up."""
    source = resolve_model(uri)
    card = ModelCard.read(source.directory)
    entry = choose_file(card.model_files, source.directory, runtime=runtime, precision=precision)
    started = time.perf_counter()
    loaded: LoadedModel
    if entry.runtime == "litert":
        from worker.litert_model import load_litert

        loaded = load_litert(card, source, entry, max_batch_size, litert_threads or usable_cpus())
    else:
        from worker.keras_model import load_keras

        loaded = load_keras(card, source, entry, max_batch_size, threads or usable_cpus())
    loaded.warm_up()
    logger.info(
        "loaded model %s version %s (%s %s) in %.1f s",
        card.name,
        card.version,
        entry.runtime,
        entry.precision,
        time.perf_counter() - started,
        extra={
            "model_name": card.name,
            "model_version": card.version,
            "runtime": entry.runtime,
            "precision": entry.precision,
        },
    )
    return loaded
