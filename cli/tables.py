"""The results table both `inferq results` and the demo print."""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.table import Table

from client.models import ResultItem


def results_table(items: Iterable[ResultItem]) -> Table:
    """Return one row per item; the whole relative file name stays on one line."""
    rows = list(items)
    longest = max((len(item.filename) for item in rows), default=4)
    # No vertical rules, so the chrome costs two characters a column. The file column never
    # wraps and is as wide as its longest name; patient and error fold when space is short.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("file", no_wrap=True, min_width=longest)
    table.add_column("result", no_wrap=True)  # the label, else the status: short words
    table.add_column("prob", no_wrap=True, justify="right")
    table.add_column("patient", overflow="fold")
    table.add_column("ms", no_wrap=True, justify="right")  # upload to result
    table.add_column("error", overflow="fold")
    for item in rows:
        total = item.latency_ms.total
        table.add_row(
            item.filename,
            item.label or item.status,
            f"{item.probability:.3f}" if item.probability is not None else "",
            item.patient_id or "",
            f"{total:.0f}" if total is not None else "",
            item.error or "",
        )
    return table
