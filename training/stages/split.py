"""Stage `split`: patient-level train/val/test tables, and the image-level split for contrast.

`data/split/{train,val,test}.csv` never share a patient (compared normalised), a slide or
a file's bytes: the stage fails, naming the rows, if they would.
`data/split/image_level/` splits the same images at random, image by image; the `leakage`
stage trains on it to show how much a leaky split flatters a model.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import typer

from core.patients import normalize_id
from training.dataset import (
    Record,
    Split,
    check_disjoint,
    shared_patients,
    split_by_image,
    split_by_patient,
    with_content_hashes,
)
from training.identity import group_records
from training.params import PipelineParams
from training.rows import Row, read_rows, rows_of, to_records, write_rows
from training.stages.common import (
    IMAGE_SPLIT_DIR,
    INDEX_FILE,
    SPLIT_DIR,
    SPLIT_REPORT,
    SPLITS,
    stage_command,
    write_json,
)

logger = logging.getLogger(__name__)


def describe(split: Split) -> dict[str, Any]:
    """Return images, patients and labels per split."""
    return {
        name: {
            "images": len(part),
            "patients": len({normalize_id(r.patient_id) for r in part}),
            "labels": dict(sorted(Counter(r.label for r in part).items())),
        }
        for name, part in zip(SPLITS, split, strict=True)
    }


def _write(split: Split, rows: list[Row], folder_name: str) -> None:
    for name, part in zip(SPLITS, split, strict=True):
        write_rows(rows_of(part, rows), SPLIT_DIR / folder_name / f"{name}.csv")


def check_test_patients(split: Split, records: list[Record], minimum: int) -> None:
    """Refuse a test split of fewer than `minimum` patients: its figures would mean little."""
    found = len({normalize_id(r.patient_id) for r in split.test})
    if found >= minimum:
        return
    patients = len({normalize_id(r.patient_id) for r in records})
    raise ValueError(
        f"the test split holds {found} patients, fewer than split.min_test_patients={minimum} "
        f"(the data has {patients} patients in {len(group_records(records))} groups): add "
        "patients, raise split.test, or lower split.min_test_patients knowingly"
    )


def split(params: PipelineParams) -> str:
    """Split the index by patient (stratified by label), check it, and write the tables."""
    rows = read_rows(INDEX_FILE)
    records = with_content_hashes(to_records(rows))  # identical files: one split
    by_patient = split_by_patient(records, params.split.ratios, seed=params.seed)
    if not by_patient.train or not by_patient.test:
        patients = len({normalize_id(r.patient_id) for r in records})
        raise ValueError(
            f"too few patients to split: {patients} patients form "
            f"{len(group_records(records))} groups (patients sharing a slide ID or a "
            "file's bytes count as one; slide IDs must name one slide across patients)"
        )
    check_test_patients(by_patient, records, params.split.min_test_patients)
    check_disjoint(by_patient)
    by_image = split_by_image(records, params.split.ratios, seed=params.seed)
    _write(by_patient, rows, "")
    _write(by_image, rows, IMAGE_SPLIT_DIR.name)
    leaked = shared_patients(by_image)
    report = {
        "patient_level": describe(by_patient),
        "image_level": describe(by_image) | {"shared_patients": len(leaked)},
    }
    write_json(report, SPLIT_REPORT)
    counts = report["patient_level"]
    summary = ", ".join(f"{k} {v['images']} ({v['patients']} patients)" for k, v in counts.items())
    return f"patient-level split: {summary}; an image-level split would share {len(leaked)}"


if __name__ == "__main__":
    typer.run(stage_command(split))
