"""GET /v1/workers: the worker processes and their heartbeats, for operators only.

Hosts and process IDs describe the deployment, not a tenant's work: only keys of the
tenants in INFERQ_OPERATOR_TENANTS see them (anyone, when keys are turned off).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from db.served import read_models
from db.workers import list_workers
from gateway.deps import SessionDep, SettingsDep, require_operator
from gateway.errors import responses
from gateway.served import worker_public
from gateway.service_schemas import WorkerPublic

router = APIRouter(tags=["operators"])


@router.get(
    "/v1/workers",
    response_model=list[WorkerPublic],
    responses=responses(401, 403, 429),
    dependencies=[Depends(require_operator)],
)
def list_workers_route(session: SessionDep, settings: SettingsDep) -> list[WorkerPublic]:
    """Return every worker that sent a heartbeat, most recently seen first.

    `live` is false for a worker unseen for INFERQ_WORKER_STALE_SECONDS; its row stays
    (with its last state, e.g. `failed` and why) until a worker of the same ID starts.
    """
    rows = list_workers(session=session)
    models = read_models({row.model_id for row in rows if row.model_id}, session=session)
    stale = settings.worker_stale_seconds
    return [worker_public(row, models.get(row.model_id or 0), stale) for row in rows]
