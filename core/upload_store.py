"""Chunks of resumable uploads in blob storage, and their assembly into one blob.

Chunks live beside the blobs (`<storage>/uploads/<upload id>/`), so every gateway instance
sees every chunk. Each chunk's file name carries its digest: two different bodies sent for
one index at once never overwrite each other, and the database row that wins names the
file assembly reads. Assembly streams one chunk at a time: memory stays at one chunk.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from core.storage import BlobStore


@dataclass(frozen=True)
class Assembled:
    """What assembly wrote: the digest and size of the bytes the chunks made."""

    sha256: str
    size: int


class ChunkStore:
    """Stores upload chunks and streams them, in order, into a content-addressed blob."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._fs = store.filesystem

    def chunk_path(self, upload_id: uuid.UUID, index: int, digest: str) -> str:
        """Return where one received chunk lives."""
        return self.store.scratch_path(str(upload_id), f"{index:08d}.{digest}")

    def put_chunk(self, upload_id: uuid.UUID, index: int, data: bytes, digest: str) -> None:
        """Store one chunk whose SHA-256 is `digest` (a retry rewrites the same file)."""
        path = self.chunk_path(upload_id, index, digest)
        self._fs.makedirs(self.store.scratch_path(str(upload_id)), exist_ok=True)
        self._fs.pipe_file(path, data)

    def assemble(
        self, upload_id: uuid.UUID, chunks: Sequence[tuple[int, str]], expected_sha256: str
    ) -> Assembled:
        """Stream the chunks (index, digest) into one file; keep it as a blob if it matches.

        The result names what was written; when its digest is not `expected_sha256` the
        file is deleted and nothing is stored.
        """
        hasher = hashlib.sha256()
        size = 0
        partial = self.store.scratch_path(str(upload_id), f"assembled.{uuid.uuid4().hex}")
        try:
            with self._fs.open(partial, "wb") as out:
                for index, digest in chunks:
                    data: bytes = self._fs.cat_file(self.chunk_path(upload_id, index, digest))
                    hasher.update(data)
                    size += len(data)
                    out.write(data)
            written = Assembled(hasher.hexdigest(), size)
            if written.sha256 == expected_sha256:
                self.store.adopt(partial, written.sha256)
            return written
        finally:
            if self._fs.exists(partial):
                self._fs.rm_file(partial)

    def discard(self, upload_id: uuid.UUID) -> None:
        """Delete every chunk of an upload (aborted, expired, reset or complete)."""
        folder = self.store.scratch_path(str(upload_id))
        if self._fs.exists(folder):
            self._fs.rm(folder, recursive=True)
