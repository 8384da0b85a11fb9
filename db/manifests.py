"""A job's manifest: metadata rows matched to items by relative path, else by base name.

Rows are stored on the job, so a manifest may arrive before, with or after the files it
describes when a job is uploaded over several requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.jobs import NewItem
from db.models import Item, ManifestEntry

CHUNK = 500  # IN lists stay far below SQLite's parameter limit
UNMATCHED_LISTED = 1000


@dataclass(frozen=True)
class ManifestRow:
    """Metadata for the item(s) with this file name."""

    filename: str
    true_label: str | None = None
    patient_id: str | None = None
    slide_id: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class ManifestStatus:
    """How much of a job's manifest matched its items so far."""

    n_rows: int
    n_matched: int
    unmatched: list[str]


def base_name(filename: str) -> str:
    """Return the last path component of a relative file name."""
    return filename.rsplit("/", 1)[-1]


def resolve(filename: str, entries: Mapping[str, ManifestRow]) -> ManifestRow | None:
    """Return the row for a file: the one naming its path, else the one naming its base name."""
    return entries.get(filename) or entries.get(base_name(filename))


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _as_row(entry: ManifestEntry) -> ManifestRow:
    return ManifestRow(
        entry.filename, entry.true_label, entry.patient_id, entry.slide_id, entry.attributes
    )


def store_entries(job_id: uuid.UUID, rows: list[ManifestRow], *, session: Session) -> None:
    """Add manifest rows to a job; a row for a file name already there replaces it."""
    names = [row.filename for row in rows]
    for chunk in _chunks(names):
        session.execute(
            delete(ManifestEntry).where(
                ManifestEntry.job_id == job_id, ManifestEntry.filename.in_(chunk)
            )
        )
    if rows:
        values = [{**asdict(row), "job_id": job_id, "matched": False} for row in rows]
        session.execute(insert(ManifestEntry), values)


def load_entries(
    job_id: uuid.UUID, *, session: Session, names: Iterable[str] | None = None
) -> dict[str, ManifestRow]:
    """Return the job's manifest rows by file name (only those named, when names are given)."""
    statement = select(ManifestEntry).where(ManifestEntry.job_id == job_id)
    if names is None:
        return {entry.filename: _as_row(entry) for entry in session.scalars(statement)}
    found: dict[str, ManifestRow] = {}
    for chunk in _chunks(sorted(set(names))):
        rows = session.scalars(statement.where(ManifestEntry.filename.in_(chunk)))
        found.update({entry.filename: _as_row(entry) for entry in rows})
    return found


def mark_matched(job_id: uuid.UUID, names: set[str], *, session: Session) -> None:
    """Record that these manifest rows now describe at least one item."""
    for chunk in _chunks(sorted(names)):
        session.execute(
            update(ManifestEntry)
            .where(ManifestEntry.job_id == job_id, ManifestEntry.filename.in_(chunk))
            .values(matched=True)
            .execution_options(synchronize_session=False)
        )


def with_metadata(item: NewItem, row: ManifestRow) -> NewItem:
    """Return the item carrying a manifest row's label, patient, slide and attributes."""
    return replace(
        item,
        true_label=row.true_label,
        patient_id=row.patient_id,
        slide_id=row.slide_id,
        attributes=row.attributes,
    )


def attach_metadata(job_id: uuid.UUID, items: list[NewItem], *, session: Session) -> list[NewItem]:
    """Return new items with the metadata of the manifest rows that name them."""
    keys = {key for item in items for key in (item.filename, base_name(item.filename))}
    entries = load_entries(job_id, session=session, names=keys)
    if not entries:
        return items
    attached, used = [], set()
    for item in items:
        row = resolve(item.filename, entries)
        attached.append(with_metadata(item, row) if row else item)
        if row:
            used.add(row.filename)
    mark_matched(job_id, used, session=session)
    return attached


def apply_to_existing(job_id: uuid.UUID, new_names: set[str], *, session: Session) -> None:
    """Copy newly stored manifest rows onto the job's items that they describe."""
    if not new_names:
        return
    entries = load_entries(job_id, session=session)
    updates, used = [], set()
    for item_id, filename in session.execute(
        select(Item.id, Item.filename).where(Item.job_id == job_id)
    ):
        row = resolve(filename, entries)
        if row is None or row.filename not in new_names:
            continue
        used.add(row.filename)
        metadata = with_metadata(NewItem(filename, "", 0), row)
        updates.append(
            {
                "id": item_id,
                "true_label": metadata.true_label,
                "patient_id": metadata.patient_id,
                "slide_id": metadata.slide_id,
                "attributes": metadata.attributes,
            }
        )
    if updates:
        session.execute(update(Item), updates)
    mark_matched(job_id, used, session=session)


def read_manifest_status(job_id: uuid.UUID, *, session: Session) -> ManifestStatus | None:
    """Return how many manifest rows matched an item, and which did not; None without one."""
    counts = dict(
        session.execute(
            select(ManifestEntry.matched, func.count())
            .where(ManifestEntry.job_id == job_id)
            .group_by(ManifestEntry.matched)
        ).all()
    )
    if not counts:
        return None
    unmatched = session.scalars(
        select(ManifestEntry.filename)
        .where(ManifestEntry.job_id == job_id, ManifestEntry.matched.is_(False))
        .order_by(ManifestEntry.filename)
        .limit(UNMATCHED_LISTED)
    ).all()
    n_matched = counts.get(True, 0)
    return ManifestStatus(n_matched + counts.get(False, 0), n_matched, list(unmatched))
