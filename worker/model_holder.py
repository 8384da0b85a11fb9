"""Load the served model once per process and run it on whole batches.

TensorFlow is imported here only, inside functions, after the worker process has started:
the parent process of a prefork pool and the gateway never import it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.model_card import KERAS_FILE, ModelCard
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


def configure_tensorflow(threads: int) -> None:
    """Size TensorFlow's thread pools before its runtime starts."""
    import tensorflow as tf

    threads = threads or usable_cpus()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:  # the runtime already started in this process; keep its pools
        logger.info("TensorFlow already initialised; thread pools left as they are")


@dataclass
class LoadedModel:
    """A Keras model with its card and one traced graph for any batch size.

    The graph takes uint8 images and casts them inside, so no float copy is made in numpy,
    and its batch dimension is free: measured here, a free batch dimension runs as fast as
    a fixed one, and a batch of 11 no longer pays for the 16 a power-of-two shape needs.
    """

    card: ModelCard
    model: Any
    max_batch_size: int
    source: ModelSource
    _graph: Any = None

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        """Return class probabilities for a uint8 batch and the model time in ms."""
        outputs = []
        started = time.perf_counter()
        for start in range(0, len(images), self.max_batch_size):
            chunk = np.ascontiguousarray(images[start : start + self.max_batch_size])
            outputs.append(np.asarray(self.graph(chunk)))
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return np.concatenate(outputs), elapsed_ms

    @property
    def graph(self) -> Any:
        """Return the traced graph, tracing it on first use."""
        if self._graph is None:
            import tensorflow as tf

            height, width = self.card.input_size
            signature = tf.TensorSpec((None, height, width, 3), tf.uint8)

            def infer(images: Any) -> Any:
                return self.model(tf.cast(images, tf.float32), training=False)

            self._graph = tf.function(infer, jit_compile=False).get_concrete_function(signature)
        return self._graph

    def warm_up(self) -> None:
        """Trace the graph and run a full and a single-image batch, so no request pays."""
        height, width = self.card.input_size
        for size in (self.max_batch_size, 1):
            self.predict(np.zeros((size, height, width, 3), dtype=np.uint8))


def load_model(uri: str, *, max_batch_size: int, threads: int = 0) -> LoadedModel:
    """Load the model a URI names (a directory or a registry version); trace its graph."""
    configure_tensorflow(threads)
    import keras

    source = resolve_model(uri)
    card = ModelCard.read(source.directory)
    model = keras.models.load_model(source.directory / KERAS_FILE, compile=False)
    loaded = LoadedModel(card, model, max_batch_size, source)
    started = time.perf_counter()
    loaded.warm_up()
    logger.info(
        "loaded model %s version %s in %.1f s",
        card.name,
        card.version,
        time.perf_counter() - started,
        extra={"model_name": card.name, "model_version": card.version},
    )
    return loaded
