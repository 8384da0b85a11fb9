"""Links to a job's resources, relative to the API root."""

from __future__ import annotations

import uuid

from gateway.schemas import JobLinks


def job_links(job_id: uuid.UUID) -> JobLinks:
    """Return where a job's status and results live."""
    base = f"/v1/jobs/{job_id}"
    return JobLinks(
        self=base,
        results=f"{base}/results",
        csv=f"{base}/results?format=csv",
        summary=f"{base}/summary",
        items=f"{base}/items",
        close=f"{base}/close",
    )
