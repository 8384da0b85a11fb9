"""Names cleaned before they are checked; tar extended headers capped before reading."""

from __future__ import annotations

import io
import tarfile

import pytest
from fastapi import HTTPException

from core.settings import Settings
from gateway.intake.archive_tar import scan_tar
from gateway.intake.budget import RequestBudget
from gateway.intake.names import clean_filename, member_path
from gateway.intake.tar_headers import MAX_HEADER_CHAIN, MAX_PAX_RECORDS


@pytest.mark.parametrize(
    "raw", ["\u200b../x.png", ".\u200b./x.png", "a/\u202e../x.png", "..\u00ad/x.png", "a\\..\\x"]
)
def test_dot_dot_hidden_by_invisible_characters_is_refused(raw: str) -> None:
    with pytest.raises(HTTPException) as refused:
        member_path(raw, "a.zip")
    assert refused.value.status_code == 422


def test_clean_names_keep_their_visible_text() -> None:
    assert member_path("scan/\u200bslide1/./P1.png", "a.zip") == "scan/slide1/P1.png"
    assert clean_filename("/\u200b/tile.png", 0) == "tile.png"
    assert clean_filename("\u200b", 3) == "upload-3"


def pax_tar(records: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("a.png")
        info.pax_headers = {f"x.{n}": "1" for n in range(records)}
        archive.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


def test_pax_headers_with_too_many_records_are_refused() -> None:
    budget = RequestBudget.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    scan_tar(io.BytesIO(pax_tar(MAX_PAX_RECORDS - 1)), budget, "ok.tar", compressed=False)
    with pytest.raises(HTTPException) as refused:
        scan_tar(io.BytesIO(pax_tar(MAX_PAX_RECORDS + 1)), budget, "x.tar", compressed=False)
    assert refused.value.status_code == 413
    assert "archive 'x.tar': member 1 has more than 128 pax records" in str(refused.value.detail)


def gnu_long_names(count: int) -> bytes:
    """Return a tar whose one member follows `count` GNU long-name headers."""
    buffer = io.BytesIO()
    for _ in range(count):
        header = tarfile.TarInfo("././@LongLink")
        header.type, header.size = tarfile.GNUTYPE_LONGNAME, 10
        buffer.write(header.tobuf(tarfile.GNU_FORMAT) + b"a" * 10 + bytes(502))
    buffer.write(tarfile.TarInfo("x.png").tobuf(tarfile.GNU_FORMAT) + bytes(1024))
    return buffer.getvalue()


def test_a_chain_of_extended_headers_is_refused_not_recursed() -> None:
    budget = RequestBudget.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    scan_tar(io.BytesIO(gnu_long_names(2)), budget, "ok.tar", compressed=False)
    with pytest.raises(HTTPException) as refused:
        scan_tar(io.BytesIO(gnu_long_names(3000)), budget, "x.tar", compressed=False)
    assert refused.value.status_code == 413
    assert f"member 1 has more than {MAX_HEADER_CHAIN} extended headers" in refused.value.detail
