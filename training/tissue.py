"""Render H&E-like tissue tiles with numpy: stain physics, stroma texture and nuclei.

Tiles are built in optical density space (Beer-Lambert), the way stain colours mix in
real slides: pixel = 255 * exp(-(hematoxylin * h_vector + eosin * e_vector)). Nuclei carry
hematoxylin, the stroma eosin. A tile's severity (0 normal, 1 high-grade tumour) sets how
large, crowded, irregular, variable, dark and coarse-grained its nuclei are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Reference optical density vectors of hematoxylin and eosin (Ruifrok & Johnston, with a
#: pinker eosin than the textbook vector so tiles look like routine slides).
_HEMATOXYLIN = np.array([0.650, 0.704, 0.286])
_EOSIN = np.array([0.10, 0.87, 0.48])


@dataclass(frozen=True)
class Stain:
    """One patient's staining: stain colours, their strengths and the scanner's brightness."""

    h_vector: np.ndarray
    e_vector: np.ndarray
    h_scale: float
    e_scale: float
    brightness: float


@dataclass(frozen=True)
class NucleusStyle:
    """How a population of nuclei looks: count, size, shape and darkness ranges."""

    count: tuple[int, int]
    radius: tuple[float, float]
    radius_sd: float
    elongation: tuple[float, float]
    irregularity: tuple[float, float]
    darkness: tuple[float, float]
    chromatin: float


#: Inflammatory infiltrate: many small, round, very dark nuclei (a benign look-alike).
LYMPHOCYTES = NucleusStyle((10, 28), (2.4, 3.0), 0.08, (1.0, 1.1), (0.0, 0.03), (1.1, 1.4), 0.0)


def nucleus_style(severity: float) -> NucleusStyle:
    """Return the nuclear look of a tile, from 0 (normal tissue) to 1 (high-grade tumour)."""
    s = severity
    return NucleusStyle(
        count=(round(6 + 6 * s), round(16 + 10 * s)),
        radius=(3.4 + 2.4 * s, 4.4 + 3.0 * s),
        radius_sd=0.10 + 0.2 * s,
        elongation=(1.0, 1.3 + 0.5 * s),
        irregularity=(0.0, 0.05 + 0.25 * s),
        darkness=(0.7 + 0.2 * s, 1.0 + 0.3 * s),
        chromatin=0.1 + 0.3 * s,
    )


def sample_stain(rng: np.random.Generator) -> Stain:
    """Draw one patient's stain colours and strengths."""

    def jitter(vector: np.ndarray) -> np.ndarray:
        """Shift a stain's colour a little and renormalise it."""
        shifted = np.clip(vector + rng.normal(0.0, 0.06, 3), 0.02, None)
        return shifted / np.linalg.norm(shifted)

    return Stain(
        h_vector=jitter(_HEMATOXYLIN),
        e_vector=jitter(_EOSIN),
        h_scale=float(rng.uniform(0.7, 1.35)),
        e_scale=float(rng.uniform(0.6, 1.4)),
        brightness=float(rng.uniform(0.88, 1.0)),
    )


@lru_cache(maxsize=16)
def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    rows = np.fft.fftfreq(size)[:, None]
    cols = np.fft.rfftfreq(size)[None, :]
    return np.exp(-2.0 * (np.pi * sigma) ** 2 * (rows**2 + cols**2)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, count: int, size: int, sigma: float) -> np.ndarray:
    """Return `count` fields of Gaussian-filtered noise, each with zero mean and unit variance."""
    # White noise has a flat spectrum, so drawing the spectrum directly skips a forward FFT.
    kernel = _gaussian_kernel(size, sigma)
    shape = (count, *kernel.shape)
    white = rng.standard_normal(shape, dtype=np.float32)
    white = white + 1j * rng.standard_normal(shape, dtype=np.float32)
    field = np.fft.irfft2(white * kernel, s=(size, size))
    field -= field.mean(axis=(1, 2), keepdims=True)
    return field / (field.std(axis=(1, 2), keepdims=True) + 1e-9)


def _nucleus_masks(rng: np.random.Generator, count: int, style: NucleusStyle) -> np.ndarray:
    """Render `count` nuclei, each centred in its own square window: shape (count, w, w)."""
    base = rng.uniform(*style.radius)
    radii = np.clip(base * (1 + style.radius_sd * rng.standard_normal(count)), 1.8, 1.6 * base)
    r = radii[:, None, None]
    elongation = np.sqrt(rng.uniform(*style.elongation, count))[:, None, None]
    angle = rng.uniform(0, np.pi, count)[:, None, None]
    irregular = rng.uniform(*style.irregularity, count)[:, None, None]
    # Boundary harmonics 2, 3 and 5 with random phases, as complex coefficients.
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, (3, count, 1, 1)))
    harmonics = irregular * phases * np.array([0.6, 0.5, 0.3])[:, None, None, None]
    darkness = rng.uniform(*style.darkness, count)[:, None, None]
    half = int(np.ceil((r * elongation * (1 + 1.4 * irregular)).max())) + 1
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    dy, dx = offsets[None, :, None], offsets[None, None, :]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / (r * elongation)
    v = (dy * np.cos(angle) - dx * np.sin(angle)) * elongation / r
    distance = np.hypot(u, v)
    z = (u + 1j * v) / (distance + 1e-9)
    z2 = z * z
    z3 = z2 * z
    boundary = 1 + (harmonics[0] * z2 + harmonics[1] * z3 + harmonics[2] * z3 * z2).real
    return (np.clip((boundary - distance) * r * 0.8, 0, 1) * darkness).astype(np.float32)


def render_nuclei(rng: np.random.Generator, size: int, style: NucleusStyle) -> np.ndarray:
    """Render one population of nuclei as hematoxylin density of shape (size, size)."""
    count = int(rng.integers(style.count[0], style.count[1] + 1))
    masks = _nucleus_masks(rng, count, style)
    width = masks.shape[1]
    # Centres fall up to 4 px outside the tile, so nuclei are cut at the edges as in a crop.
    corners = rng.integers(0, size + 8, (count, 2))
    canvas = np.zeros((size + 8 + width, size + 8 + width), dtype=np.float32)
    for (top, left), mask in zip(corners, masks, strict=True):
        window = canvas[top : top + width, left : left + width]
        np.maximum(window, mask, out=window)
    offset = 4 + width // 2
    return canvas[offset : offset + size, offset : offset + size]


def render_tiles(
    rng: np.random.Generator,
    severities: np.ndarray,
    stain: Stain,
    *,
    lymphocytes: np.ndarray,
    size: int = 96,
) -> np.ndarray:
    """Render RGB uint8 tiles of shape (n, size, size, 3), one per severity, under one stain."""
    count = len(severities)
    fibres = smooth_noise(rng, count, size, 2.5)
    lumen = smooth_noise(rng, count, size, 7.0) > rng.uniform(1.0, 2.5, (count, 1, 1))
    stroma = np.clip(0.45 + 0.12 * fibres, 0.05, None)
    eosin = np.where(lumen, np.float32(0.15) * stroma, stroma)  # lumen and fat: pale
    hematoxylin = np.stack([render_nuclei(rng, size, nucleus_style(s)) for s in severities])
    chromatin = np.array([nucleus_style(s).chromatin for s in severities], dtype=np.float32)
    grain = np.clip(1 + chromatin[:, None, None] * smooth_noise(rng, count, size, 0.8), 0.3, None)
    hematoxylin *= grain
    for index in np.flatnonzero(lymphocytes):
        infiltrate = render_nuclei(rng, size, LYMPHOCYTES)
        np.maximum(hematoxylin[index], infiltrate, out=hematoxylin[index])
    hematoxylin += 0.04 * np.clip(fibres, 0, None)
    h_colour = (stain.h_scale * stain.h_vector).astype(np.float32)
    e_colour = (stain.e_scale * stain.e_vector).astype(np.float32)
    density = hematoxylin[..., None] * h_colour + eosin[..., None] * e_colour
    noise = rng.random(density.shape, dtype=np.float32)  # sensor noise, uniform +-5
    rgb = np.float32(255.0 * stain.brightness) * np.exp(-density) + 10 * noise - 5
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
