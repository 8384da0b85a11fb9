"""Content-addressed blob storage on any fsspec URL (a local folder, gs://, s3://, memory://)."""

from __future__ import annotations

import hashlib

import fsspec
from fsspec import AbstractFileSystem


def content_hash(data: bytes) -> str:
    """Return the SHA-256 hex digest that names a blob."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Stores each blob once under its content hash; writes are idempotent."""

    def __init__(self, url: str) -> None:
        fs, root = fsspec.core.url_to_fs(url)
        self._fs: AbstractFileSystem = fs
        self._root = root.rstrip("/")

    def path_for(self, digest: str) -> str:
        """Return where the blob with this digest lives."""
        return f"{self._root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def put(self, data: bytes) -> str:
        """Store bytes if absent and return their digest."""
        digest = content_hash(data)
        path = self.path_for(digest)
        if not self._fs.exists(path):
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            temporary = f"{path}.{digest[:8]}.part"
            self._fs.pipe_file(temporary, data)
            self._fs.mv(temporary, path)
        return digest

    def get(self, digest: str) -> bytes:
        """Return the bytes stored under a digest."""
        data: bytes = self._fs.cat_file(self.path_for(digest))
        return data

    def check(self) -> None:
        """Raise if the storage root cannot be reached or created."""
        self._fs.makedirs(self._root, exist_ok=True)
