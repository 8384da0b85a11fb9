"""Manifests the client sends: CSV `filename,label,patient_id[,slide_id]`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

COLUMNS = ("filename", "label", "patient_id", "slide_id")


def patient_id_from_name(name: str) -> str:
    """Return the patient ID encoded in a tile's file name: its stem up to the last `_`."""
    stem = PurePosixPath(name).stem
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def manifest_csv(rows: Iterable[Mapping[str, str | None]]) -> bytes:
    """Return manifest CSV bytes for rows keyed by the manifest's column names."""
    rows = list(rows)
    columns = [c for c in COLUMNS if c == "filename" or any(row.get(c) for row in rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column) or "" for column in columns])
    return buffer.getvalue().encode()


def names_manifest(names: Iterable[str]) -> bytes:
    """Return a manifest giving each file the patient ID its name encodes."""
    return manifest_csv({"filename": n, "patient_id": patient_id_from_name(n)} for n in names)
