"""Train a classifier on a class-folder dataset and export it for the workers.

`train_quick` is the whole path in one call: index, split by patient, preprocess through
core (the function the workers use), fit with light augmentation, test, export.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.decision import DecisionRule
from core.metrics import score_tiles
from core.model_card import ModelCard
from training.defaults import DEFAULT_ARCHITECTURE, DEFAULT_EPOCHS, DEFAULT_INPUT_SIZE
from training.export import build_card, export_model
from training.model_zoo import build_model
from training.prepare import Arrays, PreparedData, prepare_data

logger = logging.getLogger(__name__)

BATCH_SIZE = 32
LEARNING_RATE = 1e-3
THRESHOLD = 0.5
POSITIVE_CLASS = "malignant"


def configure_threads(threads: int = 0) -> int:
    """Size TensorFlow's thread pools to the usable CPUs (or `threads`) and return the size."""
    count = threads or len(os.sched_getaffinity(0))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(min(count, 2))
    except RuntimeError:  # the runtime already started in this process; keep its pools
        logger.debug("TensorFlow already initialised; thread pools left as they are")
    return count


def _to_float(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Cast uint8 pixels to the float32 0..255 the model takes."""
    return tf.cast(image, tf.float32), label


def _augment(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Apply a random symmetry of the square and a random stain strength to one tile."""
    image, label = _to_float(image, label)
    turns = tf.random.uniform([], 0, 4, dtype=tf.int32)
    image = tf.image.random_flip_left_right(tf.image.rot90(image, turns))
    # Stains absorb by Beer-Lambert, so scaling optical density is a power of the intensity:
    # one strength for the slide, a little more per channel for the stain colours.
    strength = tf.random.uniform([], 0.7, 1.4) * tf.random.uniform([3], 0.92, 1.08)
    image = 255.0 * tf.pow(tf.maximum(image, 1.0) / 255.0, strength)
    return image, label


def make_dataset(
    arrays: Arrays, *, augment: bool, seed: int, batch_size: int = BATCH_SIZE
) -> tf.data.Dataset:
    """Return batches of float32 0..255 images and labels, shuffled and augmented if asked."""
    dataset = tf.data.Dataset.from_tensor_slices((arrays.images, arrays.labels))
    if augment:
        dataset = dataset.shuffle(len(arrays.labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_augment if augment else _to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Return balanced class weights, n / (k * count), so rare classes count as much."""
    counts = np.bincount(labels, minlength=n_classes)
    return {k: float(len(labels) / (n_classes * c)) if c else 0.0 for k, c in enumerate(counts)}


def _callbacks(has_val: bool, patience: int = 6) -> list[keras.callbacks.Callback]:
    """Log each epoch; with a validation split, halve the rate on plateaus and stop early."""
    log_epoch = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logger.info(
            "epoch %d: %s", epoch + 1, {k: round(float(v), 4) for k, v in (logs or {}).items()}
        )
    )
    if not has_val:
        return [log_epoch]
    return [
        log_epoch,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
    ]


@dataclass(frozen=True)
class FitOptions:
    """How a model is fitted: epochs, batches, learning rate, early stopping, class weights."""

    epochs: int = DEFAULT_EPOCHS
    seed: int = 0
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE
    patience: int = 6
    class_weights: bool = True


def fit_history(
    model: keras.Model,
    data: PreparedData,
    options: FitOptions,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Compile and fit with early stopping on validation loss; return the per-epoch history."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=options.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    has_val = len(data.val.labels) > 0
    batches = {"seed": options.seed, "batch_size": options.batch_size}
    weights = class_weights(data.train.labels, len(data.class_names))
    history = model.fit(
        make_dataset(data.train, augment=True, **batches),
        validation_data=make_dataset(data.val, augment=False, **batches) if has_val else None,
        epochs=options.epochs,
        class_weight=weights if options.class_weights else None,
        callbacks=[*_callbacks(has_val, options.patience), *callbacks],
        shuffle=False,  # the dataset shuffles itself, reproducibly from the seed
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def fit_model(model: keras.Model, data: PreparedData, *, epochs: int, seed: int) -> int:
    """Compile and fit with early stopping on validation loss; return the epochs run."""
    history = fit_history(model, data, FitOptions(epochs=epochs, seed=seed))
    return len(history["loss"])


def predict_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Return class probabilities for a uint8 image batch, in inference mode."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    outputs = [
        np.asarray(model(images[i : i + 256].astype(np.float32), training=False))
        for i in range(0, len(images), 256)
    ]
    return np.concatenate(outputs)


def evaluate_model(model: keras.Model, data: PreparedData, rule: DecisionRule) -> dict[str, float]:
    """Return validation and test accuracy and AUC under the card's rule, plus split sizes."""
    metrics: dict[str, float] = {}
    for name, arrays in (("val", data.val), ("test", data.test)):
        scores = predict_probabilities(model, arrays.images)
        if len(arrays.labels):
            predicted = rule.indices(scores)
            tiles = score_tiles(scores, arrays.labels, predicted, rule.positive_index)
            metrics.update({f"{name}_accuracy": tiles.accuracy, f"{name}_auc": tiles.roc_auc})
    for name, arrays in (("train", data.train), ("val", data.val), ("test", data.test)):
        metrics[f"n_{name}"] = float(len(arrays.labels))
        metrics[f"n_{name}_patients"] = float(arrays.patients)
    return metrics


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model and the card that describes it, not yet exported."""

    model: keras.Model
    card: ModelCard


def train_model(
    data_dir: Path,
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    architecture: str = DEFAULT_ARCHITECTURE,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    threads: int = 0,
) -> TrainedModel:
    """Split by patient, fit, and test a model on a class-folder dataset."""
    started = time.perf_counter()
    configure_threads(threads)
    keras.utils.set_random_seed(seed)
    data = prepare_data(data_dir, input_size, seed)
    model = build_model(architecture, input_size, len(data.class_names))
    epochs_run = fit_model(model, data, epochs=epochs, seed=seed)
    positive = POSITIVE_CLASS if POSITIVE_CLASS in data.class_names else None
    rule = DecisionRule(tuple(data.class_names), THRESHOLD, positive)
    metrics = evaluate_model(model, data, rule)
    metrics.update(epochs=float(epochs_run), train_seconds=round(time.perf_counter() - started, 1))
    logger.info("test accuracy %.3f, test AUC %.3f", metrics["test_accuracy"], metrics["test_auc"])
    card = build_card(
        architecture=architecture,
        class_names=data.class_names,
        input_size=input_size,
        data_hash=data.data_hash,
        metrics=metrics,
        positive_class=positive,
        threshold=THRESHOLD,
        training_images=data.training_images,
    )
    return TrainedModel(model=model, card=card)


def train_quick(
    data_dir: Path,
    out_dir: Path,
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    architecture: str = DEFAULT_ARCHITECTURE,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    threads: int = 0,
) -> ModelCard:
    """Train, test and export a model from a class-folder dataset; return its card."""
    trained = train_model(
        data_dir,
        epochs=epochs,
        seed=seed,
        architecture=architecture,
        input_size=input_size,
        threads=threads,
    )
    export_model(trained.model, trained.card, out_dir)
    return trained.card


if __name__ == "__main__":
    from training.cli import train_app

    train_app()
