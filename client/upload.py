"""Send many files as one job, split into requests under a size limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from client.api import InferqClient
from client.files import UploadPart, plan_requests
from client.models import JobAccepted

logger = logging.getLogger(__name__)

#: Just under Cloud Run's 32 MiB request limit.
DEFAULT_MAX_REQUEST_BYTES = 31 * 1024 * 1024
DEFAULT_MAX_PARTS = 500


class FilesTooLargeError(ValueError):
    """Some files are larger than one request may be."""

    def __init__(self, parts: list[UploadPart], limit: int) -> None:
        names = ", ".join(f"{part.name} ({part.size} bytes)" for part in parts[:10])
        super().__init__(f"{len(parts)} file(s) do not fit in a {limit}-byte request: {names}")
        self.parts = parts


@dataclass
class UploadResult:
    """The job the files went into and the answer to each request."""

    job_id: str
    answers: list[JobAccepted] = field(default_factory=list)

    def total(self, name: str) -> int:
        """Return the sum of a count over every answer (n_items, n_rejected, ...)."""
        return sum(int(getattr(answer, name)) for answer in self.answers)


def plan_or_refuse(
    parts: Sequence[UploadPart], manifest: bytes | None, max_request_bytes: int, max_parts: int
) -> list[list[UploadPart]]:
    """Split parts into requests (room for the manifest in the first); refuse misfits."""
    reserve = len(manifest) + 1024 if manifest else 0
    requests, too_large = plan_requests(
        parts, max_request_bytes=max_request_bytes, max_parts=max_parts, reserve=reserve
    )
    if too_large:
        raise FilesTooLargeError(too_large, max_request_bytes)
    if not requests:
        raise ValueError("no files to upload")
    return requests


def upload_files(
    client: InferqClient,
    parts: Sequence[UploadPart],
    *,
    manifest: bytes | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_parts: int = DEFAULT_MAX_PARTS,
    job_id: str | None = None,
    close: bool = True,
    on_request: Callable[[list[UploadPart], JobAccepted], None] | None = None,
    priority: str | None = None,
) -> UploadResult:
    """Upload files into one job: one request if they fit, else an open job filled in turn.

    Each request carries its own Idempotency-Key, so the client's retries never add a file
    twice. With `job_id`, the files go into that open job; `close` seals the job at the end.
    A new job gets `priority` (an open job keeps the one it was created with).
    """
    requests = plan_or_refuse(parts, manifest, max_request_bytes, max_parts)
    result: UploadResult | None = None
    if job_id is None:
        single = len(requests) == 1
        first = client.create_job(
            requests[0], manifest=manifest, close=single and close, priority=priority
        )
        result = UploadResult(first.job_id, [first])
        report(on_request, requests[0], first)
        requests, manifest = requests[1:], None
        if single:
            return result
    result = result or UploadResult(str(job_id))
    for chunk in requests:
        answer = client.add_items(result.job_id, chunk, manifest=manifest)
        manifest = None
        result.answers.append(answer)
        report(on_request, chunk, answer)
    if close:
        client.close_job(result.job_id)
    return result


def report(
    callback: Callable[[list[UploadPart], JobAccepted], None] | None,
    chunk: list[UploadPart],
    answer: JobAccepted,
) -> None:
    """Tell the caller about one finished request and log it."""
    logger.info("sent %d files to job %s: %d queued", len(chunk), answer.job_id, answer.n_items)
    if callback is not None:
        callback(chunk, answer)
