"""The served models, as the workers recorded them in the database.

The gateway reads no model file: `GET /v1/model` is the model most live workers serve now,
`GET /v1/models` every model served so far.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status

from db.served import current_model, list_models, serving_counts
from gateway.deps import SessionDep, SettingsDep, get_tenant
from gateway.errors import responses
from gateway.schemas import ErrorResponse
from gateway.served import model_public
from gateway.service_schemas import ServedModelPublic

router = APIRouter(tags=["model"])

NO_MODEL: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No live worker serves a model now."}
}


@router.get(
    "/v1/model",
    response_model=ServedModelPublic,
    responses={**responses(401, 429), **NO_MODEL},
    dependencies=[Depends(get_tenant)],
)
def read_model_route(session: SessionDep, settings: SettingsDep) -> ServedModelPublic:
    """Return the card of the model the workers serve now (the most live workers').

    404 while no worker is ready. Each result names the model row that produced it
    (`model_id`), so a job served across a model switch can be traced to both.
    """
    stale = settings.worker_stale_seconds
    row = current_model(session=session, stale_seconds=stale)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no worker that is ready has sent a heartbeat in the last {stale:g} s",
        )
    counts = serving_counts(session=session, stale_seconds=stale)
    return model_public(row, counts.get(row.id, 0))


@router.get(
    "/v1/models",
    response_model=list[ServedModelPublic],
    responses=responses(401, 429),
    dependencies=[Depends(get_tenant)],
)
def list_models_route(session: SessionDep, settings: SettingsDep) -> list[ServedModelPublic]:
    """Return every model workers have served, newest first, with its live workers."""
    counts = serving_counts(session=session, stale_seconds=settings.worker_stale_seconds)
    return [model_public(row, counts.get(row.id, 0)) for row in list_models(session=session)]
