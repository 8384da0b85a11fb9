"""The served model's card: name, version, classes, threshold and recorded metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status

from core.model_card import ModelCard
from gateway.deps import SettingsDep, get_tenant
from gateway.errors import responses
from gateway.model_card import served_card
from gateway.schemas import ErrorResponse

router = APIRouter(tags=["model"])


NO_CARD: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "The gateway cannot read the model card."}
}


@router.get(
    "/v1/model",
    response_model=ModelCard,
    responses={**responses(401, 429), **NO_CARD},
    dependencies=[Depends(get_tenant)],
)
def read_model_route(settings: SettingsDep) -> ModelCard:
    """Return `model.json` of the model at INFERQ_MODEL_URI, as the gateway sees it.

    404 when the gateway cannot read it (a registry URI, or no model directory beside the
    gateway); results still name the model name and version that produced them.
    """
    card = served_card(settings)
    if card is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"the gateway has no model card at {settings.model_uri!r}"
        )
    return card
