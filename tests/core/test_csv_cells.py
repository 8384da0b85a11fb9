"""Formula-like text is neutralised in CSV reports; numbers and plain text are left alone."""

from __future__ import annotations

import csv
import io

import pytest

from core.csv_cells import csv_writer, neutralise_cell


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example","x")',
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2+3",
        "@SUM(1+1).png",
        "\t=1+1",
        "\r=1+1",
        "\tplain",
        "  =1+1",
        "\n@x",
    ],
)
def test_formula_like_text_gets_a_leading_quote(text: str) -> None:
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["tile.png", "", "a=b", "1+1", "'=already quoted", None])
def test_other_text_is_unchanged(value: str | None) -> None:
    assert neutralise_cell(value) == value


@pytest.mark.parametrize("value", [-0.25, -3, 0.75, True])
def test_numbers_are_not_text(value: object) -> None:
    assert neutralise_cell(value) is value


def test_the_writer_neutralises_every_text_cell_and_quotes_separators() -> None:
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")
    writer.writerow(["name", "score"])
    writer.writerows([["=1+1,=2", -0.5], ['-"x"', None]])
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows == [["name", "score"], ["'=1+1,=2", "-0.5"], ['\'-"x"', ""]]
