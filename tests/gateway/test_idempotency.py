"""The request fingerprint stored with an Idempotency-Key."""

from __future__ import annotations

import io

from fastapi import UploadFile

from gateway.idempotency import fingerprint_parts


def upload(name: str, data: bytes) -> UploadFile:
    """Return an uploaded part."""
    return UploadFile(io.BytesIO(data), filename=name)


def test_the_fingerprint_changes_with_any_name_content_or_field() -> None:
    base = fingerprint_parts([("files", upload("a.png", b"xy")), ("close", "True")])
    variants = [
        [("files", upload("a.png", b"xz")), ("close", "True")],
        [("files", upload("b.png", b"xy")), ("close", "True")],
        [("files", upload("a.png", b"xy")), ("close", "False")],
        [("close", "True"), ("files", upload("a.png", b"xy"))],
        [("files", upload("a.png", b"xy"))],
    ]
    assert all(fingerprint_parts(parts) != base for parts in variants)
    assert fingerprint_parts([("files", upload("a.png", b"xy")), ("close", "True")]) == base


def test_fields_cannot_run_into_each_other() -> None:
    assert fingerprint_parts([("a", "bc")]) != fingerprint_parts([("ab", "c")])


def test_hashing_leaves_the_upload_rewound() -> None:
    part = upload("a.png", b"data")
    fingerprint_parts([("files", part)])
    assert part.file.read() == b"data"
