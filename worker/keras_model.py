"""The TensorFlow runtime: `model.keras` in one traced graph for any batch size.

TensorFlow is imported here only, inside functions, after the worker process has started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.model_card import ModelCard
from core.model_files import ModelFile
from worker.model_holder import LoadedModel
from worker.model_source import ModelSource

logger = logging.getLogger(__name__)


def configure_tensorflow(threads: int) -> None:
    """Size TensorFlow's thread pools before its runtime starts."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:  # the runtime already started in this process; keep its pools
        logger.info("TensorFlow already initialised; thread pools left as they are")


@dataclass
class KerasModel(LoadedModel):
    """A Keras model and one traced graph for any batch size.

    The graph takes uint8 images and casts them inside, so no float copy is made in numpy,
    and its batch dimension is free: measured here, a free batch dimension runs as fast as
    a fixed one, and a batch of 11 no longer pays for the 16 a power-of-two shape needs.
    """

    model: Any = None
    _graph: Any = None

    def run(self, chunk: np.ndarray) -> np.ndarray:
        """Return class probabilities for one uint8 chunk."""
        return np.asarray(self.graph(chunk))

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


def load_keras(
    card: ModelCard, source: ModelSource, entry: ModelFile, max_batch_size: int, threads: int
) -> KerasModel:
    """Load `model.keras` (safe mode, not compiled) with TensorFlow's pools sized."""
    configure_tensorflow(threads)
    import keras

    model = keras.models.load_model(source.directory / entry.file, compile=False)
    return KerasModel(card, source, entry, max_batch_size, model=model)
