"""Generate a synthetic, patient-structured H&E-like dataset that needs no download.

Malignant tiles have larger, denser, more irregular, more variable and darker nuclei;
benign tiles smaller, sparser, regular ones, and some hold clusters of small dark
lymphocytes, so darkness alone does not give the label away. Every patient has one label,
its own tumour grade and its own stain colours (staining and scanner batch effects), so a
split that leaks a patient's tiles into the test set flatters a model.

Layout: `<out>/<label>/<patient_id>_<nnnn>.png`, e.g. `malignant/P0007_0012.png`.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from training.tissue import render_tiles, sample_stain

logger = logging.getLogger(__name__)

CLASS_NAMES = ("benign", "malignant")
TILES_PER_PATIENT = 20
LYMPHOCYTE_RATE = 0.3


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an RGB uint8 array as PNG bytes (deterministic: no metadata)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def patient_labels(n_patients: int, seed: int) -> list[str]:
    """Assign each patient a label, half benign and half malignant, in a seeded order."""
    labels = [CLASS_NAMES[i % 2] for i in range(n_patients)]
    order = np.random.default_rng([seed, 0]).permutation(n_patients)
    return [labels[i] for i in order]


def render_patient(
    rng: np.random.Generator, label: str, n_tiles: int, size: int = 96
) -> np.ndarray:
    """Render all tiles of one patient: shape (n_tiles, size, size, 3), uint8."""
    stain = sample_stain(rng)
    if label == "malignant":
        grade = rng.uniform(0.55, 1.0)
        severities = np.clip(grade + rng.normal(0.0, 0.12, n_tiles), 0.35, 1.0)
        lymphocytes = np.zeros(n_tiles, dtype=bool)
    else:
        severities = rng.uniform(0.0, 0.3, n_tiles)
        lymphocytes = rng.random(n_tiles) < LYMPHOCYTE_RATE
    return render_tiles(rng, severities, stain, lymphocytes=lymphocytes, size=size)


def tiles_per_patient(n_tiles: int, n_patients: int) -> list[int]:
    """Share `n_tiles` among patients as evenly as possible."""
    if n_patients < 1 or n_tiles < n_patients:
        raise ValueError(f"need at least one tile per patient ({n_tiles} tiles, {n_patients})")
    share, extra = divmod(n_tiles, n_patients)
    return [share + (index < extra) for index in range(n_patients)]


def generate_dataset(
    out_dir: Path,
    *,
    n_tiles: int = 1000,
    n_patients: int | None = None,
    tile_size: int = 96,
    seed: int = 0,
) -> list[Path]:
    """Write a class-folder dataset of synthetic tiles and return the files written."""
    n_patients = n_patients or max(2, round(n_tiles / TILES_PER_PATIENT))
    counts = tiles_per_patient(n_tiles, n_patients)
    if any(out_dir.glob("*/*.png")):
        logger.warning("%s already holds tiles; files this run does not rewrite stay", out_dir)
    for name in CLASS_NAMES:
        (out_dir / name).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, label in enumerate(patient_labels(n_patients, seed)):
        rng = np.random.default_rng([seed, 1, index])
        tiles = render_patient(rng, label, counts[index], tile_size)
        for number, pixels in enumerate(tiles):
            path = out_dir / label / f"P{index:04d}_{number:04d}.png"
            path.write_bytes(encode_png(pixels))
            written.append(path)
    logger.info("wrote %d tiles of %d patients to %s", len(written), n_patients, out_dir)
    return written
