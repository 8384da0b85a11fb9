"""Stage `prepare`: decode every split with core.preprocessing into .npz arrays; hash the data."""

from __future__ import annotations

import logging

import typer

from core.model_card import TrainingImages
from training.dataset import class_names
from training.params import PipelineParams
from training.prepare import data_hash, decode_split, profile_images, save_split
from training.rows import read_rows, to_records
from training.stages.common import PREPARED_DIR, SPLIT_DIR, SPLITS, stage_command, write_json

logger = logging.getLogger(__name__)
META_FILE = PREPARED_DIR / "meta.json"


def prepare(params: PipelineParams) -> str:
    """Decode train, val and test images as the workers will, and record the data hash."""
    splits = {name: to_records(read_rows(SPLIT_DIR / f"{name}.csv")) for name in SPLITS}
    records = [record for part in splits.values() for record in part]
    names = class_names(records)
    options = params.prepare
    profile = TrainingImages()
    for name, part in splits.items():
        prepared = decode_split(part, names, options.input_size, options.resample)
        save_split(prepared, PREPARED_DIR / f"{name}.npz")
        logger.info("prepared %d %s images", len(part), name)
        if name == "train":  # the card describes the images the model learnt from
            profile = profile_images([r.path for r in part], prepared.images)
    digest = data_hash(records)
    meta = {
        "class_names": names,
        "data_hash": digest,
        "input_size": list(options.input_size),
        "resample": options.resample,
        "counts": {name: len(part) for name, part in splits.items()},
        "training_images": profile.model_dump(mode="json"),
    }
    write_json(meta, META_FILE)
    return f"prepared {len(records)} images of {len(names)} classes; data hash {digest[:12]}"


if __name__ == "__main__":
    typer.run(stage_command(prepare))
