"""End to end: train on generated tiles, export, reload, and score the same bytes alike."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from core.model_card import CARD_FILE, KERAS_FILE, SMOKE_FILE, ModelCard
from core.preprocessing import decode_image
from training.dataset import hash_dataset, index_dataset
from training.export import export_model
from training.lineage import git_state
from training.train import TrainedModel, train_model, train_quick

pytestmark = [
    pytest.mark.slow,
    # Keras 3 on numpy 2 warns from inside fit(); nothing of ours to fix.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def trained(small_dir: Path) -> TrainedModel:
    return train_model(small_dir, epochs=3, seed=0)


def test_train_quick_exports_a_model_and_its_card(small_dir: Path, tmp_path: Path) -> None:
    card = train_quick(small_dir, tmp_path, epochs=1, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CARD_FILE, KERAS_FILE, SMOKE_FILE])
    assert ModelCard.read(tmp_path) == card
    assert keras.models.load_model(tmp_path / KERAS_FILE).output_shape == (None, 2)


def test_card_describes_model_data_and_results(trained: TrainedModel, small_dir: Path) -> None:
    card = trained.card
    assert card.name == "inferq-small-cnn"
    assert card.architecture == "small_cnn"
    assert card.class_names == ["benign", "malignant"]
    assert card.positive_class == "malignant"
    assert card.input_size == card.preprocessing.input_size == (96, 96)
    assert card.threshold == 0.5
    assert card.data_hash == hash_dataset(index_dataset(small_dir), small_dir)
    assert re.fullmatch(r"\d{8}T\d{6}-" + card.data_hash[:8], card.version)
    for key in ("test_accuracy", "test_auc", "val_accuracy", "n_train", "n_test", "epochs"):
        assert key in card.metrics
    assert card.metrics["n_train"] + card.metrics["n_val"] + card.metrics["n_test"] == 240
    assert 0.0 <= card.metrics["test_auc"] <= 1.0
    # Training fills what it knows of its images; the commit is this checkout's.
    assert (card.training_images.color_mode, card.training_images.tile_size) == ("rgb", (96, 96))
    assert card.git_commit == git_state().commit and card.dvc_data_hash == ""


def test_reloaded_model_scores_bytes_like_the_trained_one(
    trained: TrainedModel, small_dir: Path, tmp_path: Path
) -> None:
    export_model(trained.model, trained.card, tmp_path)
    card = ModelCard.read(tmp_path)
    assert card == ModelCard.model_validate_json(trained.card.model_dump_json())
    reloaded = keras.models.load_model(tmp_path / KERAS_FILE)
    paths = [record.path for record in index_dataset(small_dir)[::20]]
    batch = np.stack(
        [
            decode_image(p.read_bytes(), card.input_size, resample=card.preprocessing.resample)
            for p in paths
        ]
    ).astype(np.float32)
    expected = np.asarray(trained.model(batch, training=False))
    assert expected.shape == (len(paths), len(card.class_names))
    np.testing.assert_allclose(np.asarray(reloaded(batch, training=False)), expected, atol=1e-6)


def test_export_replaces_an_earlier_model(trained: TrainedModel, tmp_path: Path) -> None:
    export_model(trained.model, trained.card, tmp_path)
    newer = trained.card.model_copy(update={"version": "20990101T000000-ffffffff"})
    export_model(trained.model, newer, tmp_path)
    assert ModelCard.read(tmp_path).version == newer.version
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CARD_FILE, KERAS_FILE, SMOKE_FILE])
