"""CSV that a spreadsheet opens as data: text that would run as a formula is neutralised.

Every CSV a person may open (the gateway's results and summaries, the CLI's results file,
training reports) is written through `csv_writer`. A text cell whose first character (or
first after leading spaces and line breaks, which some spreadsheets trim on import) is
`=`, `+`, `-` or `@`, or that starts with a tab or a carriage return, gets a leading `'`,
as OWASP recommends: Excel, LibreOffice and Google Sheets then show it as text. Only
strings are touched: numbers (a negative score, a count) are written as the numbers they
are, and `None` stays an empty cell. JSON answers keep the raw values; so do manifests,
which are read by the gateway, not opened as reports.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")
TRIMMED = " \t\r\n"


class TextSink(Protocol):
    """Where CSV text goes: a file or a StringIO."""

    def write(self, text: str, /) -> Any:
        """Write text."""


def neutralise_cell(value: object) -> object:
    """Return a cell value a spreadsheet will not run: `'` before formula-like text."""
    if isinstance(value, str) and (
        value.startswith(CONTROL_STARTS) or value.lstrip(TRIMMED).startswith(FORMULA_STARTS)
    ):
        return "'" + value
    return value


class SafeCsvWriter:
    """A `csv.writer` whose every text cell goes through `neutralise_cell`."""

    def __init__(self, sink: TextSink, **options: Any) -> None:
        self._writer = csv.writer(sink, **options)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([neutralise_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)


def csv_writer(sink: TextSink, **options: Any) -> SafeCsvWriter:
    """Return a CSV writer for reports people open (options as for `csv.writer`)."""
    return SafeCsvWriter(sink, **options)
