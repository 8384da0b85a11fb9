"""The index and split tables: CSV files of image rows (path, label, patient_id, ...)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from training.dataset import Record

Row = dict[str, str]
REQUIRED = ("path", "label", "patient_id")


def write_rows(rows: Sequence[Row], path: Path) -> Path:
    """Write rows as CSV: the required columns first, then every other column seen."""
    extra = sorted({key for row in rows for key in row} - set(REQUIRED))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*REQUIRED, *extra], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[Row]:
    """Read a table written by write_rows; refuse one without the required columns."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(REQUIRED) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks columns {sorted(missing)}")
        return list(reader)


def to_records(rows: Sequence[Row]) -> list[Record]:
    """Return the rows as dataset records."""
    return [
        Record(Path(row["path"]), row["label"], row["patient_id"], row.get("slide_id") or "")
        for row in rows
    ]


def rows_of(records: Sequence[Record], rows: Sequence[Row]) -> list[Row]:
    """Return the full rows of records, in the records' order."""
    by_path = {row["path"]: row for row in rows}
    return [by_path[str(record.path)] for record in records]
