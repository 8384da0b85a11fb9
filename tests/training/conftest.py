"""Shared synthetic datasets for the training tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.synthetic import generate_dataset


@pytest.fixture(scope="session")
def signal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a 400-tile, 20-patient dataset (seed 0) for checks on its content."""
    root = tmp_path_factory.mktemp("signal")
    generate_dataset(root, n_tiles=400, seed=0)
    return root


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a 240-tile, 12-patient dataset (seed 1) for quick training runs."""
    root = tmp_path_factory.mktemp("small")
    generate_dataset(root, n_tiles=240, seed=1)
    return root
