"""Parse the optional `manifest` part: CSV `filename,label,patient_id[,slide_id,...]`.

The header row names the columns; `filename` is required, `label`, `patient_id` and
`slide_id` are known, and any other column is kept in the item's `attributes`. A row that
cannot be used is reported with its line number instead of being ignored. Patient IDs are
stored as spelt (the summary compares them through core.patients.normalize_id); one that
normalises to nothing is no patient ID.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from fastapi import HTTPException, UploadFile, status

from core.patients import normalize_id
from db.manifests import ManifestRow
from gateway.intake.budget import RequestBudget
from gateway.intake.names import visible

#: Known columns and the item fields they fill.
KNOWN = {"label": "true_label", "patient_id": "patient_id", "slide_id": "slide_id"}
MAX_VALUE = 255
MAX_FILENAME = 1024
#: Lines not used that an answer lists; `n_errors` counts them all.
ERRORS_LISTED = 1000


@dataclass(frozen=True)
class RowError:
    """A manifest line that was not used, and why."""

    line: int
    reason: str


@dataclass
class ParsedManifest:
    """The usable rows of a manifest and the reasons the others were not used."""

    rows: list[ManifestRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    n_errors: int = 0

    def report(self, line: int, reason: str) -> None:
        """Count a line that was not used; list the first ERRORS_LISTED of them."""
        self.n_errors += 1
        if len(self.errors) < ERRORS_LISTED:
            self.errors.append(RowError(line, reason))


def bad_manifest(reason: str) -> HTTPException:
    """Return the 400 answered for a manifest that cannot be read at all."""
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"manifest: {reason}")


def read_header(first: list[str] | None) -> list[str]:
    """Return the normalised column names, refusing a manifest without a filename column."""
    if not first:
        raise bad_manifest("empty file; expected a header row such as filename,label,patient_id")
    names = [name.strip().lower() for name in first]
    if "filename" not in names:
        raise bad_manifest(f"no filename column in the header {','.join(names)!r}")
    if len(set(names)) != len(names):
        raise bad_manifest(f"repeated column names in the header {','.join(names)!r}")
    return names


def parse_row(values: list[str], header: list[str]) -> ManifestRow | str:
    """Return a row, or the reason it cannot be used."""
    if len(values) != len(header):
        return f"expected {len(header)} fields, got {len(values)}"
    cells = {name: value.strip() for name, value in zip(header, values, strict=True)}
    filename = visible(cells.pop("filename")).replace("\\", "/").lstrip("/")  # as items are
    if not filename:
        return "empty filename"
    if len(filename) > MAX_FILENAME:
        return f"filename longer than {MAX_FILENAME} characters"
    too_long = [name for name, value in cells.items() if len(value) > MAX_VALUE]
    if too_long:
        return f"{too_long[0]} longer than {MAX_VALUE} characters"
    known = {KNOWN[name]: cells.pop(name) or None for name in list(cells) if name in KNOWN}
    if normalize_id(known.get("patient_id")) is None:  # blank or invisible: no patient
        known["patient_id"] = None
    attributes = {name: value for name, value in cells.items() if value}
    return ManifestRow(filename=filename, attributes=attributes or None, **known)


def add_row(
    parsed: ParsedManifest, seen: dict[str, int], line: int, row: ManifestRow | str
) -> None:
    """Keep a usable row, or report why a line is not used."""
    if isinstance(row, str):
        parsed.report(line, row)
    elif row.filename in seen:
        parsed.report(line, f"{row.filename!r} repeats line {seen[row.filename]}")
    else:
        seen[row.filename] = line
        parsed.rows.append(row)


def decode_manifest(data: bytes) -> str:
    """Return the manifest's text; 400 if it is not UTF-8 or holds a NUL byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_manifest(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    nul = text.find("\x00")
    if nul >= 0:  # the database cannot store it, in a name, a label or an attribute
        raise bad_manifest(f"line {text.count(chr(10), 0, nul) + 1} has a NUL byte")
    return text


def parse_manifest(data: bytes, budget: RequestBudget) -> ParsedManifest:
    """Parse manifest bytes; rows that cannot be used are reported with their line."""
    text = decode_manifest(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    parsed, seen = ParsedManifest(), dict[str, int]()
    try:
        header = read_header(next(reader, None))
        for values in reader:
            if any(value.strip() for value in values):
                budget.count_rows(1)
                add_row(parsed, seen, reader.line_num, parse_row(values, header))
    except csv.Error as exc:
        raise bad_manifest(f"malformed CSV at line {reader.line_num}: {exc}") from exc
    return parsed


def read_manifest(upload: UploadFile | None, budget: RequestBudget) -> ParsedManifest | None:
    """Read and parse the manifest part, if the request has one."""
    if upload is None:
        return None
    limit = budget.max_received
    upload.file.seek(0)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"manifest is larger than the {limit}-byte limit"
        )
    budget.receive("manifest", len(data))
    return parse_manifest(data, budget)
