"""Manifests read against the request's budget: rows capped, errors listed up to a limit,
NUL bytes refused with their line."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from core.settings import Settings
from gateway.intake.budget import RequestBudget
from gateway.intake.manifest import ERRORS_LISTED, parse_manifest


def budget(**limits: int) -> RequestBudget:
    return RequestBudget.from_settings(Settings(_env_file=None, **limits))  # type: ignore[call-arg, arg-type]


def test_errors_are_listed_up_to_the_limit_and_all_counted() -> None:
    lines = b"".join(b"x%d.png,a,b\n" % n for n in range(ERRORS_LISTED + 5))
    parsed = parse_manifest(b"filename\nok.png\n" + lines, budget())
    assert len(parsed.errors) == ERRORS_LISTED and parsed.n_errors == ERRORS_LISTED + 5
    assert parsed.errors[0].line == 3 and [row.filename for row in parsed.rows] == ["ok.png"]


def test_rows_past_the_limit_are_413() -> None:
    data = b"filename\n" + b"".join(b"%d.png\n" % n for n in range(11))
    assert len(parse_manifest(data, budget(max_manifest_rows=11)).rows) == 11
    with pytest.raises(HTTPException) as refused:
        parse_manifest(data + b"x.png\n", budget(max_manifest_rows=11))
    assert refused.value.status_code == 413 and "limit of 11 rows" in refused.value.detail


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"filename,label\na.png,b\x00\n", 2), (b"filename,label\n\na.png,b\nc\x00.png,d\n", 4)],
)
def test_a_nul_byte_is_400_naming_its_line(data: bytes, line: int) -> None:
    with pytest.raises(HTTPException) as refused:
        parse_manifest(data, budget())
    assert refused.value.status_code == 400
    assert refused.value.detail == f"manifest: line {line} has a NUL byte"


def test_file_names_are_cleaned_like_item_names() -> None:
    parsed = parse_manifest(b"filename\n/scan/\xe2\x80\x8bP1.png\n", budget())
    assert [row.filename for row in parsed.rows] == ["scan/P1.png"]
