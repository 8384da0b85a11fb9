"""Labelled images to evaluate on: class sub-folders, or a folder with a manifest."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.patients import IMAGE_SUFFIXES, identity_from_name

MANIFEST_NAME = "manifest.csv"


def patient_id_from_name(name: str) -> str:
    """Return the patient ID a tile's file name encodes (core.patients' convention)."""
    identity = identity_from_name(name)
    return identity.patient_id if identity else PurePosixPath(name).stem


def is_hidden(relative: str) -> bool:
    """Return whether any component of a relative path is hidden or macOS clutter."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.split("/"))


@dataclass(frozen=True)
class Sample:
    """One labelled image: its name in the job, where it is, its label and patient."""

    name: str
    path: Path
    label: str
    patient_id: str


def from_class_folders(root: Path) -> list[Sample]:
    """Return `<root>/<label>/**/<image>` samples; the patient ID comes from the file name."""
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p.name)):
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(name):
                samples.append(Sample(name, path, folder.name, patient_id_from_name(name)))
    return samples


def from_manifest(root: Path, manifest: Path) -> list[Sample]:
    """Return the samples a manifest lists (filename relative to root, label, patient_id)."""
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    samples = []
    for line, row in enumerate(rows, start=2):
        name, label = (row.get("filename") or "").strip(), (row.get("label") or "").strip()
        if not name or not label:
            raise ValueError(f"{manifest}:{line}: a row needs a filename and a label")
        patient = (row.get("patient_id") or "").strip() or patient_id_from_name(name)
        samples.append(Sample(name, root / name, label, patient))
    return samples


def load_samples(root: Path, manifest: Path | None = None) -> list[Sample]:
    """Return the labelled samples of a folder: its manifest if it has one, else sub-folders."""
    if manifest is None and (root / MANIFEST_NAME).is_file():
        manifest = root / MANIFEST_NAME
    samples = from_manifest(root, manifest) if manifest else from_class_folders(root)
    if not samples:
        raise ValueError(f"no labelled images under {root} (class sub-folders or {MANIFEST_NAME})")
    missing = [sample.name for sample in samples if not sample.path.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} listed images are missing, e.g. {missing[0]}")
    return samples


def samples_manifest(samples: list[Sample]) -> bytes:
    """Return the manifest CSV that tells the API each image's label and patient."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "label", "patient_id"])
    writer.writerows([sample.name, sample.label, sample.patient_id] for sample in samples)
    return buffer.getvalue().encode()
