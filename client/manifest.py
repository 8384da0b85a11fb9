"""Manifests the client sends: CSV `filename,label,patient_id[,slide_id]`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

from core.patients import identity_from_name

COLUMNS = ("filename", "label", "patient_id", "slide_id")


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


def name_row(name: str) -> dict[str, str | None]:
    """Return a file's manifest row: the patient (and slide) its name encodes, if an image."""
    identity = identity_from_name(name)
    if identity is None:  # not an image: it must never become a patient
        return {"filename": name}
    return {"filename": name, "patient_id": identity.patient_id, "slide_id": identity.slide_id}


def names_manifest(names: Iterable[str]) -> bytes:
    """Return a manifest giving each image the patient (and slide) its name encodes."""
    return manifest_csv(name_row(name) for name in names)
