"""Which call rule each of a job's results is counted by: its own model's card.

Threshold, positive class and the patient rule (`patient_rule` on the card) come from the
card of the model that produced a result (as recorded by the workers), unless the request
sets them. A job whose results came from two models (a switch while it ran) is counted
with each model's own rule and says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from core.model_card import ModelCard, PatientRule
from core.patient_call import CallRule
from db.served import current_model, read_models
from db.summary import job_models
from gateway.summary_schemas import ModelUsed


@dataclass(frozen=True)
class JobRules:
    """The rule for each model row of a job, the rule its calls use, and the models used."""

    by_model: dict[int | None, CallRule]
    rule: CallRule
    models: list[ModelUsed]


@dataclass(frozen=True)
class RuleRequest:
    """What a request sets of the rule; None takes the card's value, then the default."""

    threshold: float | None = None
    positive_class: str | None = None
    min_fraction: float | None = None
    min_tiles: int | None = None
    tile_threshold: float | None = None
    min_coverage: float | None = None


def rule_for(card: ModelCard | None, request: RuleRequest) -> CallRule:
    """Fill a rule's gaps from a model card, then from the defaults."""
    patient = card.patient_rule if card else PatientRule()
    values = {
        "threshold": card.threshold if card else 0.5,
        "positive_class": card.positive_class if card else None,
        **patient.model_dump(),
    }
    for item in fields(RuleRequest):
        if getattr(request, item.name) is not None:
            values[item.name] = getattr(request, item.name)
    return CallRule(**values)


def resolve_rules(
    job_id: uuid.UUID,
    request: RuleRequest,
    *,
    session: Session,
    stale_seconds: float,
) -> JobRules:
    """Return the rules of the models that produced the job's results.

    Calls use the newest of them (the served model's, before any result exists).
    """
    shares = job_models(job_id, session=session)
    rows = read_models({s.model_id for s in shares if s.model_id is not None}, session=session)
    by_model: dict[int | None, CallRule] = {}
    used = []
    for share in shares:
        row = rows.get(share.model_id) if share.model_id is not None else None
        card = ModelCard.model_validate(row.card) if row else None
        rule = rule_for(card, request)
        by_model[share.model_id] = rule
        used.append(
            ModelUsed(
                model_id=share.model_id,
                name=share.name,
                version=share.version,
                registered_version=row.registered_version if row else None,
                results=share.results,
                threshold=rule.threshold,
                positive_class=rule.positive_class,
                tile_threshold=rule.tile_threshold,
            )
        )
    if shares:
        return JobRules(by_model, by_model[shares[-1].model_id], used)
    serving = current_model(session=session, stale_seconds=stale_seconds)
    card = ModelCard.model_validate(serving.card) if serving else None
    return JobRules(by_model, rule_for(card, request), used)
