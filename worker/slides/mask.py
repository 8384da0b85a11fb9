"""The tissue mask of a slide, from its thumbnail.

As the pathology tools do (CLAM, TIAToolbox, slideflow): tissue is stained, glass is not,
so a pixel's saturation (max - min of RGB over max) separates them. Otsu's threshold on
the thumbnail's saturation histogram picks the cut (never below MIN_SATURATION, so a slide
that is nearly all glass does not call its noise tissue), objects smaller than
`min_object_px` thumbnail pixels (dust, pen specks) are dropped, and holes inside tissue
(lumens, fat) are filled, since a tile there still shows the tissue around it.
"""

from __future__ import annotations

import numpy as np

MIN_SATURATION = 0.05


def saturation(rgb: np.ndarray) -> np.ndarray:
    """Return HSV saturation in [0, 1] for an RGB uint8 image."""
    pixels = rgb.astype(np.float32)
    high = pixels.max(axis=2)
    low = pixels.min(axis=2)
    return np.where(high > 0, (high - low) / np.maximum(high, 1.0), 0.0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Return the cut in [0, 1] that maximises the between-class variance of `values`."""
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def tissue_mask(rgb: np.ndarray, min_object_px: int = 64) -> np.ndarray:
    """Return a boolean tissue mask the size of the thumbnail `rgb`."""
    from scipy import ndimage  # a slide job's import: a worker starts without it

    values = saturation(rgb)
    threshold = max(otsu_threshold(values), MIN_SATURATION)
    mask = values > threshold
    labels, count = ndimage.label(mask)
    if count:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= min_object_px
        keep[0] = False
        mask = keep[labels]
    return np.asarray(ndimage.binary_fill_holes(mask), dtype=bool)
