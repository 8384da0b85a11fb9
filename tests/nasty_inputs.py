"""Query and path values that broke routes once, or plausibly could: every test that
attacks query parameters sends these on top of whatever it generates."""

from __future__ import annotations

# Each of these answered 500 on the results cursor: "²" passes str.isdigit() but not
# int(), 5,000 digits pass isdigit() but exceed int()'s digit limit, and 2**31 does not
# fit the position column.
CURSORS = ["²", "9" * 5000, "2147483648", "99999999999999999999", "١٢٣", "-1", "+1", " 1"]

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
]
