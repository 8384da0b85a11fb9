"""Upload chunks on an object-store-like fsspec backend (memory://): stored, joined into a
content-addressed blob, checked, discarded."""

from __future__ import annotations

import uuid

from core.storage import BlobStore, content_hash
from core.upload_store import ChunkStore


def test_chunks_join_into_a_blob_on_another_backend() -> None:
    store = BlobStore(f"memory://inferq-{uuid.uuid4().hex}")
    chunks = ChunkStore(store)
    upload_id = uuid.uuid4()
    pieces = [b"first ", b"second ", b"last"]
    for index, piece in reversed(list(enumerate(pieces))):
        chunks.put_chunk(upload_id, index, piece, content_hash(piece))
    listing = [(index, content_hash(piece)) for index, piece in enumerate(pieces)]
    whole = b"".join(pieces)
    wrong = chunks.assemble(upload_id, listing, "0" * 64)
    assert wrong.sha256 == content_hash(whole) and wrong.size == len(whole)
    assert not store.filesystem.exists(store.path_for(wrong.sha256))  # a mismatch stores nothing
    right = chunks.assemble(upload_id, listing, content_hash(whole))
    assert store.get(right.sha256) == whole
    assert store.url_for(right.sha256).startswith("memory://")
    chunks.discard(upload_id)
    assert not store.filesystem.exists(store.scratch_path(str(upload_id)))
    assert store.get(right.sha256) == whole
