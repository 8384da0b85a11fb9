"""Prepare a dataset for training: index, split by patient, decode through core.

Numpy and core only (no TensorFlow), so a pipeline stage can prepare data on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    return PreparedData(
        class_names=names,
        data_hash=hash_dataset(records, data_dir),
        train=_arrays(split.train, names, input_size),
        val=_arrays(split.val, names, input_size),
        test=_arrays(split.test, names, input_size),
    )
