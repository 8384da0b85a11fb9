"""Query and path values that broke routes once, or plausibly could: every test that
attacks query parameters sends these on top of whatever it generates."""

from __future__ import annotations

# Each of these answered 500 on the results cursor: "²" passes str.isdigit() but not
# int(), 5,000 digits pass isdigit() but exceed int()'s digit limit, and 2**31 does not
# fit the position column.
CURSORS = ["²", "9" * 5000, "2147483648", "99999999999999999999", "١٢٣", "-1", "+1", " 1"]

# Valid ISO 8601 times with no UTC counterpart: a time filter turned them into a 500.
OUT_OF_RANGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]

NASTY = [
    *CURSORS,
    "",
    "0",
    "1e3",
    "0x10",
    "1_000",
    "nan",
    "\x00",
    "a\x00b",
    "%00",
    "../../etc/passwd",
    "'; DROP TABLE jobs; --",
    "x" * 10_000,
    "\ud7ff\ufffd",
    "00000000-0000-0000-0000-000000000000",
    "1_00000000-0000-0000-0000-000000000000",
    f"{'9' * 30}_00000000-0000-0000-0000-000000000000",
    *OUT_OF_RANGE_TIMES,
]
