"""Model zoo: input contract (0..255 floats in), softmax out, no weight downloads."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from training import defaults
from training.model_zoo import ARCHITECTURES, STAIN_NORM_EPSILON, build_model, stain_norm


def test_zoo_offers_the_architectures_the_cli_lists() -> None:
    assert set(ARCHITECTURES) == set(defaults.ARCHITECTURES)


@pytest.mark.parametrize(("size", "classes"), [((96, 96), 2), ((64, 80), 3)])
def test_small_cnn_scores_raw_pixels(size: tuple[int, int], classes: int) -> None:
    model = build_model("small_cnn", size, classes)
    assert model.input_shape == (None, *size, 3)
    assert model.output_shape == (None, classes)
    pixels = np.random.default_rng(0).integers(0, 256, (4, *size, 3)).astype(np.float32)
    scores = np.asarray(model(pixels, training=False))
    assert scores.shape == (4, classes)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers)


@pytest.mark.parametrize("size", [(96, 96), (64, 80)])
def test_stain_norm_standardises_each_channel_over_the_tile(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    tiles = rng.uniform(0.0, 1.0, (3, *size, 3)).astype(np.float32)
    tiles[..., 2] = tiles[..., 2] * 0.2 + 0.7  # one faint channel, as a pale stain gives
    # The channels-first formulation must compute what per-tile LayerNormalization does.
    reference = keras.layers.LayerNormalization(axis=[1, 2], center=False, scale=False)
    produced = np.asarray(stain_norm((*size, 3))(tiles))
    np.testing.assert_allclose(produced, np.asarray(reference(tiles)), atol=1e-4)
    np.testing.assert_allclose(produced.mean(axis=(1, 2)), 0.0, atol=1e-4)
    variance = tiles.var(axis=(1, 2))
    expected_std = np.sqrt(variance / (variance + STAIN_NORM_EPSILON))  # the faint one: 0.88
    np.testing.assert_allclose(produced.std(axis=(1, 2)), expected_std, atol=1e-3)


def test_mobilenet_v2_builds_at_96_pixels_without_weights() -> None:
    model = build_model("mobilenet_v2", (96, 96), 2)
    assert model.output_shape == (None, 2)


def test_resnet50v2_builds_without_weights() -> None:
    started = time.perf_counter()
    model = build_model("resnet50v2", (96, 96), 2)
    assert model.output_shape == (None, 2)
    assert time.perf_counter() - started < 30


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg", (96, 96), 2)
    with pytest.raises(ValueError, match="two classes"):
        build_model("small_cnn", (96, 96), 1)
    with pytest.raises(ValueError, match="pretrained"):
        build_model("small_cnn", (96, 96), 2, weights="imagenet")
