"""Model architectures that take raw 0..255 RGB images and scale them inside the model.

Scaling lives in the model, so core preprocessing stays TensorFlow-free (uint8 out) and
serving cannot disagree with training about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import keras
from keras import layers, ops

logger = logging.getLogger(__name__)


#: Added to each channel's variance before the square root, as LayerNormalization does.
STAIN_NORM_EPSILON = 1e-3


def stain_norm(image_shape: tuple[int, int, int]) -> keras.Model:
    """Return a block standardising each colour channel of a tile over its pixels.

    The statistics are taken with the channels first, so each reduction and broadcast runs
    over a contiguous row of height x width values rather than every third one, and the
    variance as the mean of (x - mean) * (x - mean): LiteRT's XNNPACK delegate runs all of
    it in int8 too, where LayerNormalization's SQUARED_DIFFERENCE (and its strided NHWC
    reductions) fell back to slow kernels and took most of the small CNN's time.
    """
    height, width, channels = image_shape
    inputs = keras.Input(shape=image_shape)
    rows = ops.reshape(ops.transpose(inputs, (0, 3, 1, 2)), (-1, channels, height * width))
    centred = rows - ops.mean(rows, axis=2, keepdims=True)
    variance = ops.mean(centred * centred, axis=2, keepdims=True)
    standardised = centred * ops.rsqrt(variance + STAIN_NORM_EPSILON)
    outputs = ops.transpose(ops.reshape(standardised, (-1, channels, height, width)), (0, 2, 3, 1))
    return keras.Model(inputs, outputs, name="stain_norm")


def _small_cnn(inputs: keras.KerasTensor, weights: str | None) -> keras.KerasTensor:
    """Three conv blocks (32/64/128) for small tiles; trains in a minute or two on a CPU."""
    if weights is not None:
        raise ValueError("small_cnn has no pretrained weights")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    # Standardise each colour channel over the tile: stain strength and colour differ by
    # slide, and this keeps the network on morphology. (BatchNormalization made scores
    # swing between epochs under those shifts.) No learned scale and shift: the next
    # convolution supplies them, and per-pixel ones (LayerNormalization's over these axes)
    # stayed within 0.02 of identity when trained.
    x = stain_norm(tuple(x.shape[1:]))(x)
    # A strided first convolution keeps nuclear detail but quarters the cost of what follows.
    for filters, strides in ((32, 2), (64, 1), (128, 1)):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return layers.Dense(64, activation="relu")(x)


def _mobilenet_v2(inputs: keras.KerasTensor, weights: str | None) -> keras.KerasTensor:
    """MobileNetV2 (alpha 0.35): small and fast enough for CPU workers."""
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)  # the [-1, 1] range it expects
    backbone = keras.applications.MobileNetV2(
        input_shape=tuple(inputs.shape[1:]),
        alpha=0.35,
        include_top=False,
        weights=weights,
        pooling="avg",
    )
    return layers.Dropout(0.2)(backbone(x))


def _resnet50v2(inputs: keras.KerasTensor, weights: str | None) -> keras.KerasTensor:
    """ResNet50V2: the heavyweight baseline."""
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)  # the [-1, 1] range it expects
    backbone = keras.applications.ResNet50V2(
        input_shape=tuple(inputs.shape[1:]), include_top=False, weights=weights, pooling="avg"
    )
    return layers.Dropout(0.2)(backbone(x))


_BODIES: dict[str, Callable[[keras.KerasTensor, str | None], keras.KerasTensor]] = {
    "small_cnn": _small_cnn,
    "mobilenet_v2": _mobilenet_v2,
    "resnet50v2": _resnet50v2,
}
ARCHITECTURES = tuple(_BODIES)


def build_model(
    architecture: str,
    input_size: tuple[int, int],
    n_classes: int,
    weights: str | None = None,
) -> keras.Model:
    """Build an uncompiled classifier of float32 0..255 RGB images with a softmax output."""
    if architecture not in _BODIES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")
    if n_classes < 2:
        raise ValueError(f"need at least two classes, got {n_classes}")
    inputs = keras.Input(shape=(*input_size, 3), dtype="float32", name="image")
    features = _BODIES[architecture](inputs, weights)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="scores")(
        features
    )
    logger.info("built %s for %s input, %d classes", architecture, input_size, n_classes)
    return keras.Model(inputs, outputs, name=architecture)
