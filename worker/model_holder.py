"""Load the served model once per process and run it on whole batches.

TensorFlow is imported here only, inside functions, after the worker process has started:
the parent process of a prefork pool and the gateway never import it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.model_card import CARD_FILE, KERAS_FILE, ModelCard
from core.settings import get_settings

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


MODELS_SCHEME = "models:/"


def resolve_model_dir(
    uri: str, *, tracking_uri: str | None = None, cache_dir: Path | None = None
) -> Path:
    """Return the local directory of a model URI: a folder, or `models:/<name>@<alias>`."""
    if uri.startswith(MODELS_SCHEME):
        return download_registered_model(uri, tracking_uri=tracking_uri, cache_dir=cache_dir)
    path = Path(uri).expanduser()
    if not (path / KERAS_FILE).exists():
        raise FileNotFoundError(
            f"no model at {path.absolute()}: expected {KERAS_FILE} and model.json there "
            "(train one with `dvc repro` or `inferq train --quick --out models/default`)"
        )
    return path


def _registered_version(uri: str, client: Any) -> tuple[str, str]:
    """Return (name, version) a `models:/name@alias` or `models:/name/version` URI names."""
    reference = uri.removeprefix(MODELS_SCHEME)
    if "@" in reference:
        name, alias = reference.rsplit("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, version = reference.rpartition("/")
    if not name or not version.isdigit():
        raise ValueError(f"unsupported model URI {uri!r}: use models:/<name>@<alias>")
    return name, version


def download_registered_model(
    uri: str, *, tracking_uri: str | None = None, cache_dir: Path | None = None
) -> Path:
    """Download a registered model version's directory from MLflow once; return its folder."""
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    settings = get_settings()
    tracking_uri = tracking_uri or settings.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, version = _registered_version(uri, client)
    target = (cache_dir or settings.data_dir / "models") / name / version
    if (target / CARD_FILE).exists():  # versions never change: the cached copy is the model
        logger.info("model %s version %s from cache %s", name, version, target)
        return target
    source = client.get_model_version_download_uri(name, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        local = Path(download_artifacts(artifact_uri=source, dst_path=scratch))
        if not (local / KERAS_FILE).exists() or not (local / CARD_FILE).exists():
            raise FileNotFoundError(
                f"{uri} (version {version}) holds no {KERAS_FILE} + {CARD_FILE}"
            )
        local.replace(target)  # atomic: a concurrent loader sees all of it or none
    logger.info("downloaded model %s version %s to %s", name, version, target)
    return target


def load_model(uri: str, *, max_batch_size: int, threads: int = 0) -> LoadedModel:
    """Load the model directory at `uri` and trace its batch graphs."""
    configure_tensorflow(threads)
    import keras

    directory = resolve_model_dir(uri)
    card = ModelCard.read(directory)
    model = keras.models.load_model(directory / KERAS_FILE, compile=False)
    loaded = LoadedModel(card, model, max_batch_size)
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
