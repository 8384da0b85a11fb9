"""Training defaults that the CLI can read without importing TensorFlow."""

from __future__ import annotations

ARCHITECTURES = ("small_cnn", "mobilenet_v2", "resnet50v2")
DEFAULT_ARCHITECTURE = "small_cnn"
DEFAULT_EPOCHS = 20
DEFAULT_INPUT_SIZE = (96, 96)
DEFAULT_TILES = 1000
