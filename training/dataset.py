"""Index a class-folder image dataset, split it by patient, and load it through core.

Layout: `<root>/<class_name>/<patient_id>_<anything>.<ext>`. The patient ID is the file
name up to its last underscore, so every tile of a patient lands in the same split.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.patients import IMAGE_SUFFIXES, identity_from_name
from core.preprocessing import Resample, decode_image
from training.identity import crossing_report, file_hash, find_crossings, group_records

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One labelled image file, the patient (and slide) it came from, and its bytes' hash."""

    path: Path
    label: str
    patient_id: str
    slide_id: str = ""  # empty when the layout names no slide
    content_hash: str = ""  # empty until `with_content_hashes`


class Split(NamedTuple):
    """Records of the train, validation and test splits; no patient is in two of them."""

    train: list[Record]
    val: list[Record]
    test: list[Record]


def parse_patient_id(path: Path) -> str:
    """Return the patient ID a file name encodes (core.patients' convention, slide aware)."""
    return record_of(path, "").patient_id


def record_of(path: Path, label: str) -> Record:
    """Return a record with the patient and slide the file name encodes."""
    identity = identity_from_name(path.name)
    if identity is None:
        return Record(path, label, path.stem)
    return Record(path, label, identity.patient_id, identity.slide_id or "")


def with_content_hashes(records: Sequence[Record]) -> list[Record]:
    """Return the records with the sha256 of each file's bytes filled in."""
    return [replace(record, content_hash=file_hash(record.path)) for record in records]


def index_dataset(root: Path) -> list[Record]:
    """List the images of a class-folder dataset, sorted by path."""
    records = [
        record_of(path, folder.name)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not records:
        raise ValueError(f"no images found under {root}/<class>/")
    return records


def class_names(records: Sequence[Record]) -> list[str]:
    """Return the sorted class names present in the records."""
    return sorted({record.label for record in records})


def _allocate(n: int, quotas: Sequence[float], wanted: Sequence[bool]) -> list[int]:
    """Round quotas summing to n into counts by largest remainder; give wanted splits one."""
    counts = [max(0, int(np.floor(quota))) for quota in quotas]
    while sum(counts) > n:
        filled = [i for i in range(len(counts)) if counts[i] > 0]
        counts[max(filled, key=lambda i: (counts[i] - quotas[i], -i))] -= 1
    while sum(counts) < n:
        counts[max(range(len(counts)), key=lambda i: (quotas[i] - counts[i], -i))] += 1
    for index in (i for i, want in enumerate(wanted) if want and counts[i] == 0):
        donor = max(range(len(counts)), key=lambda i: (counts[i], -i))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[index] += 1
    return counts


def split_by_patient(
    records: Sequence[Record], ratios: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> Split:
    """Split records into train/val/test by patient, stratified by each patient's label set.

    A "patient" is a group of `training.identity.group_records`: records sharing a
    normalised patient ID, a slide ID or identical bytes never land in two splits.
    """
    if any(ratio < 0 for ratio in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be non-negative and not all zero: {ratios}")
    by_patient = group_records(records)  # one patient, slide or file: one split
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for patient_id in sorted(by_patient):
        strata[tuple(sorted({r.label for r in by_patient[patient_id]}))].append(patient_id)
    shares = [ratio / sum(ratios) for ratio in ratios]
    rng = np.random.default_rng(seed)
    parts: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
    carry = [0.0] * len(shares)  # rounding debt, paid by later strata so totals stay close
    for stratum in sorted(strata):
        patients = [strata[stratum][i] for i in rng.permutation(len(strata[stratum]))]
        quotas = [len(patients) * share + debt for share, debt in zip(shares, carry, strict=True)]
        counts = _allocate(len(patients), quotas, [share > 0 for share in shares])
        carry = [quota - count for quota, count in zip(quotas, counts, strict=True)]
        ends = np.cumsum(counts)
        for part, start, end in zip(parts, ends - counts, ends, strict=True):
            for patient_id in patients[start:end]:
                part.extend(by_patient[patient_id])
    return Split(*parts)


def load_images(
    records: Sequence[Record], input_size: tuple[int, int], *, resample: Resample = "bilinear"
) -> np.ndarray:
    """Read and decode records with core preprocessing into a uint8 batch (n, h, w, 3)."""
    batch = np.empty((len(records), *input_size, 3), dtype=np.uint8)
    for index, record in enumerate(records):
        batch[index] = decode_image(record.path.read_bytes(), input_size, resample=resample)
    return batch


def encode_labels(records: Sequence[Record], names: Sequence[str]) -> np.ndarray:
    """Return each record's class index in `names` as an int32 array."""
    lookup = {name: index for index, name in enumerate(names)}
    return np.array([lookup[record.label] for record in records], dtype=np.int32)


def hash_dataset(records: Sequence[Record], root: Path) -> str:
    """Return a sha256 over the sorted relative paths and contents of the records' files."""
    digest = hashlib.sha256()
    for relative, path in sorted((r.path.relative_to(root).as_posix(), r.path) for r in records):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{relative}\t{content}\n".encode())
    return digest.hexdigest()


def shared_patients(split: Split) -> set[str]:
    """Return the normalised patient IDs found in more than one split (empty without a leak)."""
    parts = dict(zip(("train", "val", "test"), split, strict=True))
    return {c.key for c in find_crossings(parts) if c.kind == "patient"}


def check_disjoint(split: Split) -> None:
    """Raise ValueError naming the rows of any patient, slide or file found in two splits."""
    crossings = find_crossings(dict(zip(("train", "val", "test"), split, strict=True)))
    if crossings:
        raise ValueError(crossing_report(crossings))


def split_by_image(
    records: Sequence[Record], ratios: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> Split:
    """Split records at random image by image: the leaky split that patient-level avoids."""
    shares = np.array(ratios, dtype=np.float64) / sum(ratios)
    order = np.random.default_rng([seed, 1]).permutation(len(records))
    counts = _allocate(len(records), list(shares * len(records)), [s > 0 for s in shares])
    ends = np.cumsum(counts)
    parts = [
        sorted((records[i] for i in order[e - c : e]), key=lambda r: r.path)
        for c, e in zip(counts, ends, strict=True)
    ]
    return Split(*parts)
