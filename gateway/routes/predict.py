"""POST /predict: one image, answered like a synchronous classifier when it is fast enough.

The route is asynchronous: it stores and queues the image, then waits on the completion
signal (gateway.waiters) without holding a thread, and reads the result once. Past
`predict_timeout_seconds` it answers 202 with the job to poll. On PostgreSQL one acceptable
image never leaves the event loop (its SQL runs through db.loop_sql); anything else takes
the sessions' path in a worker thread.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from core.priority import Priority
from db.models import ItemStatus
from db.results import read_outcome
from db.tenant_rules import TenantRules, read_tenant_rules
from gateway.deps import SessionOpener, SessionOpenerDep, TenantDep
from gateway.errors import responses
from gateway.intake.parts import ImagePart
from gateway.intake.request import Gathered
from gateway.links import job_links
from gateway.loop_intake import loop_database, take_on_loop
from gateway.priorities import PriorityChoice
from gateway.schemas import Prediction, PredictionPending
from gateway.submission import Services, Upload, submit_job
from gateway.waiters import CompletionWaiters, wait_until

router = APIRouter(tags=["predict"])

WAITERS_RETRY_SECONDS = 1
FINISHED = {ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.CANCELLED}
OutcomeReader = Callable[[], Awaitable[Any]]


def predict_priority(rules: TenantRules) -> PriorityChoice:
    """Return what a /predict call asks for: interactive, within the tenant's rules."""
    return PriorityChoice(Priority.INTERACTIVE, rules.priorities)


def submit_one(
    request: Request,
    open_session: SessionOpener,
    tenant: str,
    file: UploadFile,
    job_id: uuid.UUID,
    gathered: Gathered | None = None,
) -> None:
    """Store the image (unless `gathered` holds it already) and commit its one-item
    interactive job (or the tenant's cap), then publish it (in a worker thread)."""
    state = request.app.state
    with open_session() as session:
        services = Services(state.settings, state.store, state.publisher, session, tenant)
        level = predict_priority(read_tenant_rules(tenant, session=session))
        submit_job(Upload([file]), services, job_id=job_id, priority=level, gathered=gathered)


def read_job_outcome(open_session: SessionOpener, job_id: uuid.UUID) -> Row[Any]:
    """Return the job's only item's status, error and result columns."""
    with open_session() as session:
        return read_outcome(job_id, session=session)


async def submit(
    request: Request, open_session: SessionOpener, tenant: str, file: UploadFile, job_id: uuid.UUID
) -> OutcomeReader:
    """Store and queue the image; return how its outcome is read.

    On PostgreSQL one acceptable image never leaves the event loop; anything else (a refused
    part, an archive of several, the embedded SQLite) takes the sessions' path on a worker
    thread.
    """
    database = loop_database(request)
    if database is None:
        await anyio.to_thread.run_sync(submit_one, request, open_session, tenant, file, job_id)
        return partial(anyio.to_thread.run_sync, partial(read_job_outcome, open_session, job_id))
    taken = await take_on_loop(request, database, tenant, file, predict_priority, job_id)
    if taken.accepted is None:
        await anyio.to_thread.run_sync(
            submit_one, request, open_session, tenant, file, job_id, taken.gathered
        )
    return partial(database.read_outcome, job_id)


def to_prediction(job_id: uuid.UUID, result: Any, latency_ms: float) -> Prediction:
    """Build the 200 answer from the item's outcome row."""
    return Prediction(
        job_id=job_id,
        label=result.label,
        probability=result.probability,
        scores=result.scores,
        latency_ms=latency_ms,
        inference_ms=result.inference_ms,
        batch_ms=result.batch_ms,
        batch_size=result.batch_size,
        model_name=result.model_name,
        model_version=result.model_version,
        model_id=result.model_id,
        warnings=result.warnings or [],
    )


def still_pending(job_id: uuid.UUID, item_status: str) -> JSONResponse:
    """Build the 202 answer: the job to poll."""
    pending = PredictionPending(
        job_id=job_id,
        status="running" if item_status == ItemStatus.RUNNING else "queued",
        detail="not classified within the timeout: poll links.self",
        links=job_links(job_id),
    )
    return JSONResponse(pending.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/predict",
    response_model=Prediction,
    responses={
        202: {
            "model": PredictionPending,
            "description": "Not done within the timeout: the job to poll.",
        },
        **responses(400, 401, 413, 415, 422, 429, 503),
    },
)
async def predict_route(
    file: ImagePart,
    tenant: TenantDep,
    request: Request,
    open_session: SessionOpenerDep,
) -> Prediction | JSONResponse:
    """Classify one image, waiting up to the configured timeout for the result.

    Answers 200 with the label, 202 with the job to poll when the timeout passes first,
    422 when the image could not be classified, and 429 when this gateway already holds
    `INFERQ_MAX_PREDICT_WAITERS` waiting calls.
    """
    state = request.app.state
    waiters: CompletionWaiters = state.waiters
    settings = state.settings
    started = time.monotonic()
    with waiters.slot() as admitted:
        if not admitted:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"{waiters.limit} /predict calls are already waiting here; retry shortly "
                "or submit to /v1/jobs",
                headers={"Retry-After": str(WAITERS_RETRY_SECONDS)},
            )
        await waiters.start()
        job_id = uuid.uuid4()
        with waiters.expect(str(job_id)) as done:  # before publishing: it may finish at once
            read = await submit(request, open_session, tenant, file, job_id)
            deadline = started + settings.predict_timeout_seconds
            outcome = await wait_until(
                waiters, done, deadline, read, lambda outcome: outcome.status in FINISHED
            )
    if outcome.label is not None:
        return to_prediction(job_id, outcome, (time.monotonic() - started) * 1000.0)
    if outcome.status in FINISHED:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, outcome.error or outcome.status)
    return still_pending(job_id, outcome.status)
