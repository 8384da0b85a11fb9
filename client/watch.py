"""Watch a scanner's outbox: send each new file once it stops growing, then its result.

Files are taken once their size and modification time have not changed for a settle
period. The ledger (SQLite) remembers every file taken and the Idempotency-Key of its
request, so a restart neither skips nor resends anything. Results are written beside each
file (`<name>.inferq.json`) or into one CSV rewritten from the ledger.

Each request is a job of its own, unless sessions are on: then each folder's files go into
one open job, which is closed once no file has arrived in that folder for the quiet time,
so a patient's tiles written over minutes end up in one job and one summary.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from client.api import ApiError, InferqClient
from client.files import UploadPart, is_junk, plan_requests
from client.ledger import Batch, Ledger
from client.manifest import names_manifest
from client.models import JobAccepted, ResultItem
from client.retry import RETRY_STATUSES
from client.upload import DEFAULT_MAX_PARTS, DEFAULT_MAX_REQUEST_BYTES
from core.csv_cells import csv_writer

logger = logging.getLogger(__name__)

RESULT_SUFFIX = ".inferq.json"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload")
CSV_COLUMNS = ["path", "job_id", "status", "label", "probability", "error", "model_version"]


@dataclass(frozen=True)
class WatchOptions:
    """Where to watch, where to keep the ledger and results, and how patient to be."""

    folder: Path
    ledger: Path
    out_csv: Path | None = None
    settle_seconds: float = 2.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_parts: int = DEFAULT_MAX_PARTS
    manifest: bytes | None = None  # sent with each new job
    patients_from_names: bool = False  # each request names its files' patients
    session_quiet_seconds: float | None = None  # None: every request is a job of its own


def folder_of(relative: str) -> str:
    """Return the folder of a relative path, the unit of a session ("." for the top)."""
    return PurePosixPath(relative).parent.as_posix()


def by_folder(parts: list[UploadPart]) -> list[list[UploadPart]]:
    """Group parts by their folder, keeping their order within each."""
    groups: dict[str, list[UploadPart]] = {}
    for part in parts:
        groups.setdefault(folder_of(part.name), []).append(part)
    return list(groups.values())


def atomic_write(path: Path, text: str) -> None:
    """Write a file beside its target and rename it, so readers never see half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    partial.replace(path)


class Watcher:
    """Sends new files of a folder to the API and writes back their results."""

    def __init__(
        self, client: InferqClient, options: WatchOptions, notify: Callable[[str], None]
    ) -> None:
        self.client = client
        self.options = options
        self.notify = notify
        self.ledger = Ledger(options.ledger)
        self._seen: dict[str, tuple[int, int, float]] = {}
        self._ours = {options.ledger.resolve(), *(p.resolve() for p in [options.out_csv] if p)}

    def listing(self) -> list[tuple[str, Path, int, int]]:
        """Return (relative path, path, size, mtime_ns) of every file that may be sent."""
        found = []
        for path in sorted(self.options.folder.rglob("*")):
            relative = path.relative_to(self.options.folder).as_posix()
            if is_junk(relative) or relative.endswith((RESULT_SUFFIX, *PARTIAL_SUFFIXES)):
                continue
            if not path.is_file() or path.is_symlink() or path.resolve() in self._ours:
                continue
            stat = path.stat()
            found.append((relative, path, stat.st_size, stat.st_mtime_ns))
        return found

    def settled(self, now: float) -> list[UploadPart]:
        """Return new files whose size and time have not changed for the settle period."""
        known = self.ledger.known()
        current: dict[str, tuple[int, int, float]] = {}
        ready = []
        for relative, path, size, mtime in self.listing():
            if relative in known:
                continue
            previous = self._seen.get(relative)
            unchanged = previous is not None and previous[:2] == (size, mtime)
            since = previous[2] if previous is not None and unchanged else now
            current[relative] = (size, mtime, since)
            if unchanged and now - since >= self.options.settle_seconds:
                ready.append(UploadPart(relative, path, size))
        self._seen = current
        return ready

    def send_new(self, parts: list[UploadPart]) -> None:
        """Send new files: in batches of one folder each when sessions are on."""
        sessions = self.options.session_quiet_seconds is not None
        for group in by_folder(parts) if sessions else [parts]:
            self.send_group(group)

    def send_group(self, parts: list[UploadPart]) -> None:
        """Record new files in batches under the request limits, then send each batch."""
        requests, too_large = plan_requests(
            parts,
            max_request_bytes=self.options.max_request_bytes,
            max_parts=self.options.max_parts,
        )
        for part in too_large:
            self.ledger.refuse(part.name, part.size, "larger than one request may be")
            self.notify(f"skipped {part.name}: larger than one request may be")
        for chunk in requests:
            key = str(uuid.uuid4())
            self.ledger.add_batch(key, [(part.name, part.size) for part in chunk])
            self.send(Batch(key, None, [part.name for part in chunk]))

    def send(self, batch: Batch) -> None:
        """Send a recorded batch under its key; a resend gets the first answer back."""
        parts = [
            UploadPart(name, path, path.stat().st_size)
            for name in batch.paths
            if (path := self.options.folder / name).is_file()
        ]
        if not parts:
            self.record(batch, {name: {"status": "missing"} for name in batch.paths})
            return
        try:
            answer = self.submit(batch, parts)
        except ApiError as exc:
            if exc.status_code is None or exc.status_code in RETRY_STATUSES:
                self.notify(f"could not send {len(parts)} files (will retry): {exc}")
                return
            refused = {"status": "refused", "error": exc.detail}  # retrying would not help
            self.record(batch, {name: refused for name in batch.paths})
            return
        self.ledger.mark_sent(batch.key, answer.job_id)
        self.notify(f"sent {len(parts)} files as job {answer.job_id}")

    def submit(self, batch: Batch, parts: list[UploadPart]) -> JobAccepted:
        """Send a batch as a job of its own, or into its folder's open session job."""
        names = names_manifest(p.name for p in parts) if self.options.patients_from_names else None
        if self.options.session_quiet_seconds is None:
            manifest = names or self.options.manifest
            return self.client.create_job(parts, manifest=manifest, idempotency_key=batch.key)
        folder = folder_of(batch.paths[0])
        job_id = self.ledger.session_job(folder)
        if job_id is None:  # the session's first request carries the --manifest file
            manifest = names or self.options.manifest
            key = batch.key
            answer = self.client.create_job(
                parts, manifest=manifest, close=False, idempotency_key=key
            )
        else:
            answer = self.client.add_items(job_id, parts, manifest=names, idempotency_key=batch.key)
        self.ledger.touch_session(folder, answer.job_id)
        return answer

    def close_quiet(self) -> None:
        """Close each folder's open job once no file has gone into it for the quiet time."""
        quiet = self.options.session_quiet_seconds
        if quiet is None:
            return
        pending = {folder_of(path) for b in self.ledger.batches("pending") for path in b.paths}
        settling = {folder_of(relative) for relative in self._seen}
        for folder, job_id in self.ledger.quiet_sessions(quiet):
            if folder in pending or folder in settling:
                continue  # a file of this folder is on its way: the session goes on
            self.client.close_job(job_id)  # closing again changes nothing
            self.ledger.end_session(folder)
            self.notify(f"closed job {job_id} of {folder}/: no new file for {quiet:g} s")

    def collect(self) -> None:
        """Write the results of every sent batch whose job is finished."""
        sent = [batch for batch in self.ledger.batches("sent") if batch.job_id is not None]
        jobs = self.client.get_jobs([str(batch.job_id) for batch in sent]) if sent else {}
        read: dict[str, dict[str, ResultItem]] = {}  # a session's job holds many batches
        for batch in sent:
            job = jobs.get(str(batch.job_id))
            if job is None or not job.done:
                continue
            if job.job_id not in read:
                read[job.job_id] = {i.filename: i for i in self.client.iter_results(job.job_id)}
            items = read[job.job_id]
            results: dict[str, dict[str, Any]] = {}
            for name in batch.paths:
                item = items.get(name)
                result = item.model_dump(mode="json") if item else {"status": "missing"}
                results[name] = {**result, "job_id": batch.job_id}
            self.record(batch, results)

    def record(self, batch: Batch, results: dict[str, dict[str, Any]]) -> None:
        """Write a batch's results (beside the files, or into the CSV) and mark it done."""
        if self.options.out_csv is None:
            for name, result in results.items():
                target = self.options.folder / f"{name}{RESULT_SUFFIX}"
                if target.parent.is_dir():
                    atomic_write(target, json.dumps(result, indent=1) + "\n")
        self.ledger.finish(batch.key, results)
        if self.options.out_csv is not None:
            self.write_csv()
        self.notify(f"wrote results of {len(results)} files (job {batch.job_id or 'none'})")

    def write_csv(self) -> None:
        """Rewrite the results CSV from the ledger."""
        if self.options.out_csv is not None:
            atomic_write(self.options.out_csv, results_csv(self.ledger.results()))

    def step(self) -> None:
        """Resend unconfirmed batches, send newly settled files, collect finished results."""
        for batch in self.ledger.batches("pending"):
            self.send(batch)
        self.send_new(self.settled(time.monotonic()))
        self.close_quiet()
        self.collect()

    def idle(self) -> bool:
        """Return whether nothing is waiting to settle, to be sent or to finish."""
        busy = self.ledger.batches("pending") or self.ledger.batches("sent")
        return not busy and not self._seen and not self.ledger.open_sessions()

    def run(self, interval: float, *, once: bool = False) -> None:
        """Watch until interrupted (or, with `once`, until everything present is done)."""
        if self.options.out_csv is not None:
            self.write_csv()
        while True:
            try:
                self.step()
            except ApiError as exc:  # the gateway is away longer than the client retries
                self.notify(f"API unavailable, trying again: {exc}")
            if once and self.idle():
                return
            time.sleep(interval)


def results_csv(rows: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """Return CSV text of (path, result) rows."""
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for path, result in rows:
        writer.writerow([path, *(result.get(column) for column in CSV_COLUMNS[1:])])
    return buffer.getvalue()
