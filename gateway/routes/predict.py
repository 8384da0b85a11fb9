"""POST /predict: one image, answered like a synchronous classifier when it is fast enough."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Response, UploadFile, status

from db.models import ItemStatus, Result
from db.results import list_results
from db.session import get_session
from gateway.deps import PublisherDep, SessionDep, SettingsDep, StoreDep, TenantDep
from gateway.errors import responses
from gateway.links import job_links
from gateway.schemas import JobAccepted, Prediction
from gateway.submission import Services, submit_files

router = APIRouter(tags=["predict"])

POLL_SECONDS = 0.02


def wait_for_result(
    job_id: uuid.UUID, database_url: str, deadline: float
) -> tuple[str, Result | None]:
    """Poll the job's only item until it finishes or the deadline passes."""
    while True:
        with get_session(database_url) as session:
            rows = list_results(job_id, session=session, limit=1).rows
        item, result = rows[0]
        if item.status in {ItemStatus.SUCCEEDED, ItemStatus.FAILED} or time.monotonic() > deadline:
            return item.error or item.status, result
        time.sleep(POLL_SECONDS)


@router.post(
    "/predict",
    response_model=Prediction,
    responses={
        202: {"model": JobAccepted, "description": "Not done within the timeout; poll the job."},
        **responses(400, 401, 413, 415, 422, 429, 503),
    },
)
def predict_route(
    file: Annotated[UploadFile, File(description="One image.")],
    tenant: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    publisher: PublisherDep,
    session: SessionDep,
    response: Response,
) -> Prediction | JobAccepted:
    """Classify one image, waiting up to the configured timeout for the result."""
    started = time.monotonic()
    job_id = submit_files([file], Services(settings, store, publisher, session, tenant))
    deadline = started + settings.predict_timeout_seconds
    outcome, result = wait_for_result(job_id, settings.resolved_database_url, deadline)
    if result is not None:
        return Prediction(
            job_id=job_id,
            label=result.label,
            probability=result.probability,
            scores=result.scores,
            latency_ms=(time.monotonic() - started) * 1000.0,
            model_name=result.model_name,
            model_version=result.model_version,
        )
    if outcome not in {ItemStatus.QUEUED, ItemStatus.RUNNING}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, outcome)
    response.status_code = status.HTTP_202_ACCEPTED
    return JobAccepted(job_id=job_id, status="queued", n_items=1, links=job_links(job_id))
