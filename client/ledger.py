"""The client ledger: which files went into which request, so a restart sends nothing twice.

A batch is written here with its Idempotency-Key before it is sent. If the process dies
after sending but before recording the answer, the restart sends the batch again under
the same key and the gateway answers with the first job instead of adding the files again.
A file sent by resumable upload is recorded with its checksum and upload ID, so a rerun
asks the gateway which chunks it has and sends only the others.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    key TEXT PRIMARY KEY, job_id TEXT, state TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, batch TEXT, state TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    folder TEXT PRIMARY KEY, job_id TEXT NOT NULL, last_added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    path TEXT NOT NULL, api TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, upload_id TEXT, PRIMARY KEY (path, api)
);
"""


@dataclass(frozen=True)
class UploadRecord:
    """A file being sent by resumable upload: its identity, checksum and upload ID."""

    path: str
    api: str
    size: int
    mtime_ns: int
    sha256: str
    upload_id: str | None


@dataclass(frozen=True)
class Batch:
    """Files sent (or about to be sent) in one request, and the job they went into."""

    key: str
    job_id: str | None
    paths: list[str]


class Ledger:
    """A small SQLite file recording every file the watcher has taken."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def known(self) -> set[str]:
        """Return every path the watcher has taken, whatever became of it."""
        return {row[0] for row in self._db.execute("SELECT path FROM files")}

    def add_batch(self, key: str, files: list[tuple[str, int]]) -> None:
        """Record a batch and its files before the request is sent."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO batches VALUES (?, NULL, 'pending', ?)", (key, time.time())
            )
            self._db.executemany(
                "INSERT INTO files VALUES (?, ?, ?, 'pending', NULL)",
                [(path, size, key) for path, size in files],
            )

    def refuse(self, path: str, size: int, reason: str) -> None:
        """Record a file that will never be sent (too large for a request)."""
        result = json.dumps({"status": "failed", "error": reason})
        self._db.execute(
            "INSERT OR IGNORE INTO files VALUES (?, ?, NULL, 'refused', ?)", (path, size, result)
        )

    def mark_sent(self, key: str, job_id: str) -> None:
        """Record the job a batch went into."""
        self._db.execute(
            "UPDATE batches SET job_id = ?, state = 'sent' WHERE key = ?", (job_id, key)
        )

    def batches(self, state: str) -> list[Batch]:
        """Return the batches in a state ('pending', 'sent' or 'done'), oldest first."""
        rows = self._db.execute(
            "SELECT key, job_id FROM batches WHERE state = ? ORDER BY created", (state,)
        ).fetchall()
        return [Batch(key, job_id, self._paths(key)) for key, job_id in rows]

    def _paths(self, key: str) -> list[str]:
        rows = self._db.execute("SELECT path FROM files WHERE batch = ? ORDER BY path", (key,))
        return [row[0] for row in rows]

    def finish(self, key: str, results: dict[str, dict[str, Any]]) -> None:
        """Store a finished batch's results by path and mark it done."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE files SET result = ?, state = 'done' WHERE path = ?",
                [(json.dumps(result), path) for path, result in results.items()],
            )
            self._db.execute("UPDATE batches SET state = 'done' WHERE key = ?", (key,))

    def session_job(self, folder: str) -> str | None:
        """Return the open job of a folder's session, if one is open."""
        row = self._db.execute("SELECT job_id FROM sessions WHERE folder = ?", (folder,))
        found = row.fetchone()
        return str(found[0]) if found else None

    def touch_session(self, folder: str, job_id: str) -> None:
        """Record that files just went into a folder's open job."""
        self._db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (folder, job_id, time.time())
        )

    def quiet_sessions(self, quiet_seconds: float) -> list[tuple[str, str]]:
        """Return (folder, job_id) of the open sessions that got no file for this long."""
        since = time.time() - quiet_seconds
        rows = self._db.execute(
            "SELECT folder, job_id FROM sessions WHERE last_added <= ? ORDER BY folder", (since,)
        )
        return [(folder, job_id) for folder, job_id in rows]

    def open_sessions(self) -> int:
        """Return how many folder sessions are open."""
        return int(self._db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    def end_session(self, folder: str) -> None:
        """Forget a folder's session once its job is closed."""
        self._db.execute("DELETE FROM sessions WHERE folder = ?", (folder,))

    def results(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (path, result) for every file with a result, by path."""
        rows = self._db.execute(
            "SELECT path, result FROM files WHERE result IS NOT NULL ORDER BY path"
        )
        for path, result in rows:
            yield path, json.loads(result)

    def upload_record(self, path: str, api: str) -> UploadRecord | None:
        """Return what is recorded about a file's resumable upload to a gateway."""
        row = self._db.execute(
            "SELECT path, api, size, mtime_ns, sha256, upload_id FROM uploads "
            "WHERE path = ? AND api = ?",
            (path, api),
        ).fetchone()
        return UploadRecord(*row) if row else None

    def record_upload(self, record: UploadRecord) -> None:
        """Remember a file's checksum and upload ID, so a rerun resumes the upload."""
        self._db.execute(
            "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.path,
                record.api,
                record.size,
                record.mtime_ns,
                record.sha256,
                record.upload_id,
            ),
        )
