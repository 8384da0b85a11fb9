"""Content-addressed blob storage on any fsspec URL (a local folder, gs://, s3://, memory://)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem


def content_hash(data: bytes) -> str:
    """Return the SHA-256 hex digest that names a blob."""
    return hashlib.sha256(data).hexdigest()


#: A blob's name: its content_hash.
DIGEST = re.compile(r"[0-9a-f]{64}")


LOCAL_PROTOCOLS = ("file://", "local://")


class BlobStore:
    """Stores each blob once under its content hash; writes are idempotent.

    The filesystem is made on first use, not with the store: for gs:// that imports the GCS
    client and looks up credentials (about a second of CPU), which the gateway's cold start
    need not wait for.
    """

    def __init__(self, url: str) -> None:
        self._url = url

    @cached_property
    def _location(self) -> tuple[AbstractFileSystem, str]:
        import fsspec

        fs, root = fsspec.core.url_to_fs(self._url)
        return fs, root.rstrip("/")

    @property
    def _fs(self) -> AbstractFileSystem:
        return self._location[0]

    @property
    def _root(self) -> str:
        return self._location[1]

    @property
    def local(self) -> bool:
        """Whether blobs live on a local disk (a write is a quick file write, not a call),
        read from the URL: a plain path or `file://`. Answering makes no filesystem."""
        return "://" not in self._url or self._url.startswith(LOCAL_PROTOCOLS)

    def path_for(self, digest: str) -> str:
        """Return where the blob with this digest lives."""
        return f"{self._root}/{digest[:2]}/{digest[2:4]}/{digest}"

    @property
    def filesystem(self) -> AbstractFileSystem:
        """Return the fsspec filesystem the blobs live on."""
        return self._fs

    def scratch_path(self, *parts: str) -> str:
        """Return a path beside the blobs for work in progress (upload chunks)."""
        return "/".join([self._root, "uploads", *parts])

    def url_for(self, digest: str) -> str:
        """Return the full fsspec URL of the blob with this digest (what readers open)."""
        return str(self._fs.unstrip_protocol(self.path_for(digest)))

    def adopt(self, path: str, digest: str) -> None:
        """Move a finished file (written beside the blobs) into place as this digest's blob."""
        target = self.path_for(digest)
        if self._fs.exists(target):  # the same bytes are stored already
            self._fs.rm_file(path)
            if self.local:
                os.utime(target)
            return
        self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self._fs.mv(path, target)  # a rename on a local disk, a server-side copy elsewhere

    def put(self, data: bytes) -> str:
        """Store bytes if absent and return their digest."""
        digest = content_hash(data)
        path = self.path_for(digest)
        if self.local:
            self._put_local(path, data)
        elif not self._fs.exists(path):
            self._fs.pipe_file(path, data)  # object stores write whole objects atomically
        return digest

    @staticmethod
    def _put_local(path: str, data: bytes) -> None:
        # Write beside the target and rename, so a reader never sees half a file.
        try:
            os.utime(path)  # stored already: renewed, so a purge leaves a blob just sent alone
            return
        except PermissionError:  # another user's file: it is there, which is what counts
            return
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)

    def get(self, digest: str) -> bytes:
        """Return the bytes stored under a digest."""
        data: bytes = self._fs.cat_file(self.path_for(digest))
        return data

    def delete(self, digest: str, *, written_before: datetime | None = None) -> bool:
        """Delete a blob unless it was written at or after `written_before`; return if gone."""
        try:
            if written_before is not None and not self.written_before(digest, written_before):
                return False
            self._fs.rm_file(self.path_for(digest))
        except FileNotFoundError:
            pass
        return True

    def digests_in(self, folder: str) -> list[str]:
        """Return the digests of the blobs under one top-level folder of the store (the first
        two hex digits of their digests), sorted; files being written are left out."""
        try:
            paths = self._fs.find(f"{self._root}/{folder}")
        except FileNotFoundError:
            return []
        names = (str(path).rsplit("/", 1)[-1] for path in paths)
        return sorted(name for name in names if DIGEST.fullmatch(name) and name[:2] == folder)

    def written_before(self, digest: str, moment: datetime) -> bool:
        """Return whether a blob was written, or last sent again, before `moment` (always, on
        a store that keeps no time). Raises FileNotFoundError when it is not stored."""
        try:
            written: datetime = self._fs.modified(self.path_for(digest))
        except NotImplementedError:  # a store that keeps no time: every blob counts as old
            return True
        return (written if written.tzinfo else written.replace(tzinfo=UTC)) < moment

    def check(self) -> None:
        """Raise if the storage root cannot be reached or created."""
        self._fs.makedirs(self._root, exist_ok=True)
