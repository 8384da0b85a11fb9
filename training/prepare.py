"""Prepare a dataset for training: index, split by patient, decode through core.

Numpy and core only (no TensorFlow), so a pipeline stage can prepare data on its own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.input_checks import describe_training_images, is_grayscale
from core.model_card import TrainingImages
from core.preprocessing import Resample, sniff_image
from training.dataset import (
    Record,
    class_names,
    encode_labels,
    hash_dataset,
    index_dataset,
    load_images,
    split_by_patient,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrays:
    """Images (uint8, n x h x w x 3) and class indices of one split."""

    images: np.ndarray
    labels: np.ndarray
    patients: int


@dataclass(frozen=True)
class PreparedData:
    """A dataset split by patient and decoded through core preprocessing."""

    class_names: list[str]
    data_hash: str
    train: Arrays
    val: Arrays
    test: Arrays
    training_images: TrainingImages = field(default_factory=TrainingImages)


def _arrays(records: list[Record], names: list[str], input_size: tuple[int, int]) -> Arrays:
    return Arrays(
        images=load_images(records, input_size),
        labels=encode_labels(records, names),
        patients=len({record.patient_id for record in records}),
    )


def prepare_data(data_dir: Path, input_size: tuple[int, int], seed: int) -> PreparedData:
    """Index a dataset, split it by patient and decode every split with core preprocessing."""
    records = index_dataset(data_dir)
    names = class_names(records)
    split = split_by_patient(records, seed=seed)
    if not split.train or not split.test:
        raise ValueError(f"too few patients in {data_dir} for a train and a test split")
    logger.info(
        "split %d images: %d train, %d val, %d test",
        len(records),
        len(split.train),
        len(split.val),
        len(split.test),
    )
    train = _arrays(split.train, names, input_size)
    return PreparedData(
        class_names=names,
        data_hash=hash_dataset(records, data_dir),
        train=train,
        val=_arrays(split.val, names, input_size),
        test=_arrays(split.test, names, input_size),
        training_images=profile_images([r.path for r in split.train], train.images),
    )


def profile_images(paths: list[Path], images: np.ndarray) -> TrainingImages:
    """Describe the training images for the card: colour mode and median source size."""
    sizes = []
    for path in paths:
        info = sniff_image(path.read_bytes())
        sizes.append((info.height, info.width))
    return describe_training_images([is_grayscale(image) for image in images], sizes)


@dataclass(frozen=True)
class PreparedSplit:
    """One split as the `prepare` stage stores it: pixels, labels, patients and file paths."""

    images: np.ndarray
    labels: np.ndarray
    patient_ids: np.ndarray
    paths: np.ndarray

    def arrays(self) -> Arrays:
        """Return the split in the form the trainer takes."""
        return Arrays(self.images, self.labels, len(set(self.patient_ids.tolist())))


def decode_split(
    records: list[Record], names: list[str], input_size: tuple[int, int], resample: Resample
) -> PreparedSplit:
    """Decode a split's images with core preprocessing."""
    return PreparedSplit(
        images=load_images(records, input_size, resample=resample),
        labels=encode_labels(records, names),
        patient_ids=np.array([r.patient_id for r in records], dtype=str),
        paths=np.array([str(r.path) for r in records], dtype=str),
    )


def save_split(split: PreparedSplit, path: Path) -> Path:
    """Store a prepared split as an uncompressed .npz file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez(handle, **vars(split))
    return path


def load_split(path: Path) -> PreparedSplit:
    """Load a split stored by save_split."""
    with np.load(path) as stored:
        return PreparedSplit(**{name: stored[name] for name in stored.files})


def data_hash(records: list[Record]) -> str:
    """Return the dataset hash over file names (below their common folder) and contents."""
    root = Path(os.path.commonpath([record.path.parent for record in records]))
    return hash_dataset(records, root)


def concat_splits(parts: list[PreparedSplit]) -> PreparedSplit:
    """Join prepared splits into one."""
    return PreparedSplit(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def select(split: PreparedSplit, indices: list[int]) -> PreparedSplit:
    """Return the images of a split at the given positions."""
    return PreparedSplit(**{key: array[indices] for key, array in vars(split).items()})
