"""Which images must share a split: one patient, one slide, or the very same bytes.

A patient can hide behind another spelling (`P0001`, `p0001 `), a slide can be named
where the patient is not, and one file can be copied under two names. Images linked by
any of the three form one group; the split moves groups whole and the check refuses a
split in which any of them crosses, naming the rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from core.patients import normalize_id

#: Offending rows a failed check names (all of them are counted).
ROWS_SHOWN = 20
KINDS = ("patient", "slide", "content")
NOUNS = {"patient": "patients", "slide": "slides", "content": "byte-identical files"}


class Identified(Protocol):
    """What identifies an image: its file, its patient, its slide and its bytes."""

    @property
    def path(self) -> Path: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def slide_id(self) -> str: ...
    @property
    def content_hash(self) -> str: ...


R = TypeVar("R", bound=Identified)


def identity_key(record: Identified, kind: str) -> str | None:
    """Return a record's key of one kind: normalised patient or slide ID, or content hash."""
    if kind == "patient":
        return normalize_id(record.patient_id) or f"file:{record.path}"
    if kind == "slide":
        return normalize_id(record.slide_id)
    return record.content_hash or None


def file_hash(path: Path) -> str:
    """Return the sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def group_records(records: Sequence[R]) -> dict[str, list[R]]:
    """Return the records in groups that must share a split, named by a patient of each.

    Two records are in one group when their normalised patient IDs, slide IDs or content
    hashes are equal, directly or through other records (union-find over the keys).
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for record in records:
        first, *others = [f"{k}:{v}" for k in KINDS if (v := identity_key(record, k))]
        for other in others:
            parent[find(other)] = find(first)
    groups: dict[str, list[R]] = defaultdict(list)
    for record in records:
        groups[find(f"patient:{identity_key(record, 'patient')}")].append(record)
    return {
        min(str(identity_key(r, "patient")) for r in members): members
        for members in groups.values()
    }


@dataclass(frozen=True)
class Crossing:
    """One patient, slide or file content found in more than one split, and its rows."""

    kind: str
    key: str
    rows: list[tuple[str, Identified]]  # (split name, record)

    def describe(self) -> list[str]:
        """Return one line per offending row."""
        return [
            f"  {self.kind} {self.key!r}: {name} {record.path} (patient_id "
            f"{record.patient_id!r}, slide_id {record.slide_id!r})"
            for name, record in self.rows
        ]


def find_crossings(parts: Mapping[str, Sequence[Identified]]) -> list[Crossing]:
    """Return every patient, slide and content hash that appears in more than one split."""
    crossings = []
    for kind in KINDS:
        rows: dict[str, list[tuple[str, Identified]]] = defaultdict(list)
        for name, part in parts.items():
            for record in part:
                key = identity_key(record, kind)
                if key is not None:
                    rows[key].append((name, record))
        for key in sorted(rows):
            if len({name for name, _ in rows[key]}) > 1:
                crossings.append(Crossing(kind, key, rows[key]))
    return crossings


def crossing_report(crossings: list[Crossing]) -> str:
    """Return the failed check's message: counts by kind, then the first offending rows."""
    count = Counter(crossing.kind for crossing in crossings)
    counts = ", ".join(f"{count[kind]} {NOUNS[kind]}" for kind in KINDS if count[kind])
    lines = [line for crossing in crossings for line in crossing.describe()]
    more = f"\n  ... and {len(lines) - ROWS_SHOWN} more rows" if len(lines) > ROWS_SHOWN else ""
    return (
        f"the split leaks: {counts} in more than one split:\n"
        + "\n".join(lines[:ROWS_SHOWN])
        + more
    )
