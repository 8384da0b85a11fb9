"""The statuses a job can be in and which of them are final: one definition for every
package (the database derives them, the gateway serves them, clients wait for them)."""

from __future__ import annotations

from typing import Literal, get_args

JobStatus = Literal[
    "open", "queued", "running", "succeeded", "partially_failed", "failed", "cancelled"
]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
FINAL_STATUSES = frozenset({"succeeded", "partially_failed", "failed", "cancelled"})
