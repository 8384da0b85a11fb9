"""Resumable chunked uploads of large files (whole-slide images) from the client side.

A file's SHA-256 and upload ID are kept in the ledger before the first chunk goes, so a
run that was interrupted (killed, network gone) resumes: it asks the gateway which chunks
arrived and sends only the others. Chunks are read from disk one at a time; server
errors and lost connections are retried with backoff (a chunk is idempotent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from client.api import ApiError, InferqClient
from client.ledger import Ledger, UploadRecord
from core.upload_schemas import ChunkReceived, UploadPublic, chunk_length

HASH_BLOCK = 4 * 2**20
COMPLETE_TIMEOUT_SECONDS = 900.0  # the gateway streams every chunk into one blob

OnChunk = Callable[[int], None]


def file_sha256(path: Path) -> str:
    """Return a file's SHA-256, reading it a block at a time."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


def read_chunk(path: Path, upload: UploadPublic, index: int) -> bytes:
    """Return chunk `index` of a file, as the upload's chunk size cuts it."""
    with path.open("rb") as handle:
        handle.seek(index * upload.chunk_size)
        return handle.read(chunk_length(index, upload.size, upload.chunk_size))


def transient(error: BaseException) -> bool:
    """Return whether an error may pass if the request is sent again (5xx, no answer)."""
    if not isinstance(error, ApiError):
        return False
    return error.status_code is None or error.status_code >= 500


@dataclass(frozen=True)
class UploadDone:
    """A file whose upload completed: its upload, and how many chunks this run sent."""

    path: Path
    upload: UploadPublic
    sent: int
    resumed: int


class ChunkedUploader:
    """Sends files by resumable upload, recording each in the ledger before it starts."""

    def __init__(
        self, client: InferqClient, ledger: Ledger, *, attempts: int = 8, max_wait: float = 30.0
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.retrying = Retrying(
            retry=retry_if_exception(transient),
            wait=wait_exponential(multiplier=0.5, max=max_wait),
            stop=stop_after_attempt(attempts),
            reraise=True,
        )

    def call(self, method: str, path: str, **options: object) -> dict[str, object]:
        """Send a request, again after a server error or a lost connection."""
        response = self.retrying.copy()(self.client.request, method, path, **options)
        if response.status_code == 204:
            return {}
        answer: dict[str, object] = response.json()
        return answer

    def start(self, path: Path) -> UploadPublic:
        """Return the file's upload: the recorded one if the gateway still has it, else new."""
        stat = path.stat()
        key = (str(path.resolve()), self.client.base_url)
        record = self.ledger.upload_record(*key)
        fresh = record is not None and (record.size, record.mtime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        )
        if record is not None and fresh and record.upload_id is not None:
            try:
                return UploadPublic.model_validate(
                    self.call("GET", f"/v1/uploads/{record.upload_id}")
                )
            except ApiError as exc:
                if exc.status_code != 404:  # expired or aborted: start again
                    raise
        sha256 = record.sha256 if record is not None and fresh else file_sha256(path)
        declared = {"filename": path.name, "size": stat.st_size, "sha256": sha256}
        upload = UploadPublic.model_validate(self.call("POST", "/v1/uploads", json=declared))
        self.ledger.record_upload(
            UploadRecord(*key, stat.st_size, stat.st_mtime_ns, sha256, str(upload.id))
        )
        return upload

    def send(self, path: Path, upload: UploadPublic, on_chunk: OnChunk | None = None) -> int:
        """Send every chunk the gateway lacks; return how many were sent."""
        have = set(upload.received)
        missing = [index for index in range(upload.chunk_count) if index not in have]
        for index in missing:
            body = read_chunk(path, upload, index)
            url = f"/v1/uploads/{upload.id}/chunks/{index}"
            ChunkReceived.model_validate(self.call("PUT", url, content=body))
            if on_chunk is not None:
                on_chunk(len(body))
        return len(missing)

    def complete(self, upload: UploadPublic) -> UploadPublic:
        """Ask the gateway to join the chunks and check the SHA-256 (again: same answer)."""
        url = f"/v1/uploads/{upload.id}/complete"
        return UploadPublic.model_validate(self.call("POST", url, timeout=COMPLETE_TIMEOUT_SECONDS))

    def upload(self, path: Path, on_chunk: OnChunk | None = None) -> UploadDone:
        """Upload (or resume) one file and complete it; the gateway checks its SHA-256."""
        upload = self.start(path)
        is_open = upload.status == "open"
        resumed = len(upload.received) if is_open else upload.chunk_count
        sent = self.send(path, upload, on_chunk) if is_open else 0
        return UploadDone(path, self.complete(upload), sent, resumed)


def bytes_received(upload: UploadPublic) -> int:
    """Return how many of the file's bytes the gateway already holds."""
    if upload.status != "open":
        return upload.size
    return sum(chunk_length(index, upload.size, upload.chunk_size) for index in upload.received)
