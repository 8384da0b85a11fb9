"""The gateway's own reading of a zip central directory agrees with zipfile on real zips
and refuses what zipfile would build or inflate blindly."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi import HTTPException

from core.settings import Settings
from gateway.intake.budget import RequestBudget
from gateway.intake.zip_directory import check_overlaps, find_directory, read_directory
from tests.attacks.intake import crowded_zip, overlapping_zip


def budget(**limits: int) -> RequestBudget:
    return RequestBudget.from_settings(Settings(_env_file=None, **limits))  # type: ignore[call-arg, arg-type]


def scan(data: bytes, members: int = 10_000) -> list[tuple[str, int]]:
    fileobj = io.BytesIO(data)
    directory = find_directory(fileobj)
    records = read_directory(fileobj, directory, budget(max_archive_members=members), "a.zip")
    check_overlaps(fileobj, records, directory, "a.zip")
    return [(record.name, record.size) for record in records]


def written(*, zip64: bool = False, prefix: bytes = b"", comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.comment = comment
        for index in range(3):
            with archive.open(f"d/{index}.png", "w", force_zip64=zip64) as member:
                member.write(bytes([index]) * 5000)
        archive.writestr("d/", b"")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [written(), written(zip64=True), written(prefix=b"#!/bin/sh\n" * 10), written(comment=b"c")],
    ids=["plain", "zip64", "prepended", "comment"],
)
def test_real_zips_scan_like_zipfile_reads_them(data: bytes) -> None:
    expected = [(i.filename, i.file_size) for i in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert scan(data) == expected


def test_zip64_end_records_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # zip64 end records for 4 entries
    for data in (written(), written(prefix=b"MZ" * 100)):
        assert b"PK\x06\x06" in data
        expected = [(i.filename, i.file_size) for i in zipfile.ZipFile(io.BytesIO(data)).infolist()]
        assert scan(data) == expected
        assert find_directory(io.BytesIO(data)).declared == 4


def test_overlapping_entries_are_refused() -> None:
    with pytest.raises(HTTPException) as refused:
        scan(overlapping_zip(copies=3, size=200_000))
    assert refused.value.status_code == 413
    assert "member 'tile.png' overlaps member 'tile.png'" in str(refused.value.detail)


def test_records_are_counted_whatever_the_end_record_declares() -> None:
    data = crowded_zip(50, declared=1)
    with pytest.raises(HTTPException) as refused:
        scan(data, members=20)
    assert refused.value.status_code == 413
    assert "past the limit of 20 members" in str(refused.value.detail)
