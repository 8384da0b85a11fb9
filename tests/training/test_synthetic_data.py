"""The synthetic H&E generator: layout, determinism, speed and the signal it carries."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from core.metrics import roc_auc
from core.preprocessing import decode_image
from training.dataset import encode_labels, index_dataset, load_images
from training.synthetic import CLASS_NAMES, generate_dataset, tiles_per_patient
from training.tissue import render_tiles, sample_stain

NAME = re.compile(r"^P\d{4}_\d{4}\.png$")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_layout_names_and_one_label_per_patient(tmp_path: Path) -> None:
    files = generate_dataset(tmp_path, n_tiles=61, n_patients=6, seed=0)
    assert len(files) == 61
    assert sorted(p.name for p in tmp_path.iterdir()) == list(CLASS_NAMES)
    labels_of: dict[str, set[str]] = {}
    for path in files:
        assert NAME.match(path.name), path.name
        labels_of.setdefault(path.name[:5], set()).add(path.parent.name)
    assert len(labels_of) == 6
    assert all(len(labels) == 1 for labels in labels_of.values())
    assert {next(iter(labels)) for labels in labels_of.values()} == set(CLASS_NAMES)


def test_tiles_decode_through_core_preprocessing(tmp_path: Path) -> None:
    files = generate_dataset(tmp_path, n_tiles=4, n_patients=2, tile_size=64, seed=0)
    pixels = decode_image(files[0].read_bytes(), (64, 64))
    assert pixels.shape == (64, 64, 3)
    assert pixels.dtype == np.uint8


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "a", n_tiles=30, seed=7)
    generate_dataset(tmp_path / "b", n_tiles=30, seed=7)
    generate_dataset(tmp_path / "c", n_tiles=30, seed=8)
    first = _snapshot(tmp_path / "a")
    assert first == _snapshot(tmp_path / "b")
    assert first != _snapshot(tmp_path / "c")


def test_generation_is_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate_dataset(tmp_path, n_tiles=200, seed=0)
    assert time.perf_counter() - started < 10  # about 1 s on 2 cores


def test_tiles_are_shared_evenly_among_patients() -> None:
    assert tiles_per_patient(10, 3) == [4, 3, 3]
    with pytest.raises(ValueError):
        tiles_per_patient(2, 3)


def test_malignant_nuclei_cover_more_and_are_darker_under_one_stain() -> None:
    stain = sample_stain(np.random.default_rng(0))
    none = np.zeros(30, dtype=bool)
    low, high = (
        render_tiles(np.random.default_rng(1), np.full(30, s), stain, lymphocytes=none).mean(-1)
        for s in (0.1, 0.9)
    )
    assert (high < 130).mean() > 2 * (low < 130).mean()
    assert np.percentile(high, 1) < np.percentile(low, 1) - 15


def test_label_lives_in_morphology_not_in_mean_colour(signal_dir: Path) -> None:
    records = index_dataset(signal_dir)
    images = load_images(records, (96, 96)).astype(np.float32)
    labels = encode_labels(records, list(CLASS_NAMES))
    gray = images.mean(axis=-1)
    assert roc_auc(labels, (gray < 130).mean(axis=(1, 2))) > 0.85  # nuclear area
    assert roc_auc(labels, -gray.mean(axis=(1, 2))) < 0.85  # overall darkness alone


def test_each_patient_has_its_own_stain(signal_dir: Path) -> None:
    records = index_dataset(signal_dir)
    means = load_images(records, (96, 96)).astype(np.float32).mean(axis=(1, 2))
    patients = np.array([record.patient_id for record in records])
    groups = [means[patients == p] for p in np.unique(patients)]
    within = np.mean([group.var(axis=0).sum() for group in groups])
    between = np.array([group.mean(axis=0) for group in groups]).var(axis=0).sum()
    assert between > 3 * within
