"""Wire schemas of resumable uploads, shared by the gateway (answers) and the client (reads).

The chunk rule lives here too: every chunk but the last is `chunk_size` bytes, the last
holds the rest, so a client and the gateway agree on each index's exact length.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


def chunk_count(size: int, chunk_size: int) -> int:
    """Return how many chunks a file of `size` bytes takes."""
    return max(1, -(-size // chunk_size))


def chunk_length(index: int, size: int, chunk_size: int) -> int:
    """Return the exact length of chunk `index` of a file of `size` bytes."""
    return min(chunk_size, size - index * chunk_size)


class UploadCreate(BaseModel):
    """What a client declares before sending a file in chunks.

    Strict and closed: `"size": true` or `"size": "12"` is a 422, not 1 or 12, and an
    unknown field is a 422 rather than silently dropped.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    filename: str = Field(min_length=1, max_length=1024, description="The file's name.")
    size: int = Field(ge=1, description="The file's exact size in bytes.")
    sha256: str = Field(
        pattern=SHA256_PATTERN, description="The file's SHA-256, 64 hex digits; checked at the end."
    )

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UploadLinks(BaseModel):
    """Where an upload's status, chunks and completion live."""

    self: str
    chunks: str = Field(description="PUT each chunk here, `{index}` from 0.")
    complete: str


class UploadPublic(BaseModel):
    """An upload: what was declared, which chunks arrived, and its blob once complete."""

    id: uuid.UUID
    filename: str
    size: int
    sha256: str
    status: str = Field(description="`open` while taking chunks, then `complete`.")
    chunk_size: int = Field(description="Every chunk but the last has exactly this many bytes.")
    chunk_count: int
    received: list[int] = Field(description="Indexes of the chunks received, ascending.")
    created_at: datetime
    expires_at: datetime | None = Field(
        description="When an open upload is purged unless another chunk arrives first."
    )
    completed_at: datetime | None = None
    blob: str | None = Field(
        None, description="The stored file's reference (its SHA-256) once complete."
    )
    links: UploadLinks


class ChunkReceived(BaseModel):
    """A chunk taken (or recognised as sent before)."""

    upload_id: uuid.UUID
    index: int
    size: int
    sha256: str
    received_count: int = Field(description="Chunks of the upload received so far.")
    chunk_count: int
