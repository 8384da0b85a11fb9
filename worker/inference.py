"""The steps of one batch: claim items, decode their blobs, label model outputs, persist."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from core.decision import DecisionRule
from core.input_checks import input_warnings
from core.model_card import ModelCard
from core.preprocessing import Decoded, ImageError, decode_source
from core.priority import Priority
from db.claims import (
    ClaimedItem,
    Outcome,
    claim_items,
    claim_queued,
    fail_items,
    record_results,
    release_items,
)
from db.session import get_session
from db.webhook_events import record_final_events
from worker.runtime import Runtime
from worker.serving import Served

logger = logging.getLogger(__name__)

URGENT = Priority.INTERACTIVE.rank


class StageTimer:
    """Milliseconds spent in each named stage of a batch, for the batch log line."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.stages[name] = round(self.stages.get(name, 0.0) + elapsed, 2)


@dataclass
class Batch:
    """Claimed items, the images decoded from them, and the items that could not be read."""

    claimed: list[ClaimedItem]
    decoded: list[ClaimedItem] = field(default_factory=list)
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))
    errors: dict[uuid.UUID, str] = field(default_factory=dict)
    warnings: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # decoded items only
    served: Served | None = None  # the model the images were decoded for, and run on
    timer: StageTimer = field(default_factory=StageTimer)

    @property
    def suspect(self) -> bool:
        """Whether an item was lost with a worker before: it may be what killed it."""
        return lost_before(self.claimed)


def lost_before(items: list[ClaimedItem]) -> bool:
    """Whether an item was claimed before by a worker that never finished it."""
    return any(item.attempts > 1 for item in items)


def claim_batch(item_ids: list[uuid.UUID], runtime: Runtime) -> list[ClaimedItem]:
    """Claim these items, then queued items of any job up to a full batch.

    An item that was lost with a worker before is claimed alone: if it is what kills
    workers, it takes nothing else down with it.
    """
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        claimed = claim_items(
            item_ids,
            session=session,
            worker_id=runtime.worker_id,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )
        if item_ids and not claimed:
            return []  # another batch took them: this wake-up has nothing to do
        runtime.recent.add(item.id for item in claimed)
        if not lost_before(claimed):
            claimed += claim_next(settings.max_batch_size - len(claimed), session, runtime)
    return claimed


def claim_more(
    limit: int, session: Session, runtime: Runtime, lowest: int = 2
) -> list[ClaimedItem]:
    """Claim up to `limit` queued items of any job (of priority rank `lowest` or more
    urgent), and remember them as this process's."""
    more = claim_queued(
        limit,
        session=session,
        worker_id=runtime.worker_id,
        lease_seconds=runtime.settings.lease_seconds,
        ageing_seconds=runtime.settings.priority_ageing_seconds,
        lowest=lowest,
    )
    runtime.recent.add(item.id for item in more)
    return more


def claim_urgent(runtime: Runtime) -> list[ClaimedItem]:
    """Claim queued interactive items only, up to a batch (none when nothing urgent waits)."""
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        return claim_more(settings.max_batch_size, session, runtime, lowest=URGENT)


def claim_next(limit: int, session: Session, runtime: Runtime) -> list[ClaimedItem]:
    """Claim the next batch's items: the queued interactive ones alone when there are any
    (a small batch returns them soonest), else the most urgent of the rest."""
    urgent = claim_more(limit, session, runtime, lowest=URGENT)
    return urgent or claim_more(limit, session, runtime)


def fill_batch(claimed: list[ClaimedItem], runtime: Runtime) -> list[ClaimedItem]:
    """Wait up to the batch wait once for more queued items when a batch is not full; a
    batch holding interactive items is filled with interactive items only."""
    settings = runtime.settings
    missing = settings.max_batch_size - len(claimed)
    if missing <= 0 or settings.max_batch_wait_ms <= 0 or lost_before(claimed):
        return claimed
    lowest = URGENT if any(item.priority == URGENT for item in claimed) else 2
    time.sleep(settings.max_batch_wait_ms / 1000.0)
    with get_session(settings.resolved_database_url) as session:
        return claimed + claim_more(missing, session, runtime, lowest)


def decode_one(item: ClaimedItem, card: ModelCard, runtime: Runtime) -> Decoded | str:
    """Return an item's preprocessed image for a model, or why it cannot be read."""
    try:
        return decode_source(
            runtime.store.get(item.content_hash),
            card.input_size,
            resample=card.preprocessing.resample,
            max_pixels=runtime.settings.max_image_pixels,
            reserve=runtime.decode_budget.hold,
        )
    except ImageError as exc:
        return f"invalid image: {exc}"
    except FileNotFoundError:
        return "image blob missing from storage"


def check_input(decoded: Decoded, card: ModelCard, fail: bool) -> tuple[list[str], str | None]:
    """Return an input's warnings, and the failure they make when warnings fail items."""
    warnings = input_warnings(decoded, card.training_images)
    if fail and warnings:
        return warnings, "input unlike the model's training images: " + "; ".join(warnings)
    return warnings, None


def decode_batch(batch: Batch, runtime: Runtime) -> Batch:
    """Decode a batch's images on the decode threads; unreadable ones become errors."""
    arrays: list[np.ndarray] = []
    batch.served = runtime.served
    card = batch.served.model.card
    fail = runtime.settings.fail_on_input_warnings
    with batch.timer("decode"):
        decoded = runtime.decoders.map(lambda item: decode_one(item, card, runtime), batch.claimed)
        for item, image in zip(batch.claimed, decoded, strict=True):
            if isinstance(image, str):
                batch.errors[item.id] = image
                continue
            warnings, failure = check_input(image, card, fail)
            if failure is not None:
                batch.errors[item.id] = failure
                continue
            batch.decoded.append(item)
            batch.warnings[item.id] = warnings
            arrays.append(image.pixels)
    height, width = card.input_size
    batch.images = np.stack(arrays) if arrays else np.zeros((0, height, width, 3), np.uint8)
    return batch


def to_outcomes(
    items: list[ClaimedItem],
    probabilities: np.ndarray,
    model_ms: float,
    card: ModelCard,
    warnings: dict[uuid.UUID, list[str]] | None = None,
) -> list[Outcome]:
    """Turn model outputs into outcomes labelled by the card's decision rule (core.decision)."""
    rule = DecisionRule.from_card(card)
    warnings = warnings or {}
    outcomes = []
    for item, row in zip(items, probabilities, strict=True):
        scores = [float(p) for p in row]  # the rule sees exactly the scores that are stored
        best = rule.index(scores)
        outcomes.append(
            Outcome(
                item=item,
                label=card.class_names[best],
                probability=scores[best],
                scores=dict(zip(card.class_names, scores, strict=True)),
                inference_ms=model_ms / len(items),  # the item's share of the batch
                batch_ms=model_ms,
                batch_size=len(items),
                warnings=warnings.get(item.id, []),
            )
        )
    return outcomes


def persist(
    outcomes: list[Outcome],
    errors: dict[uuid.UUID, str],
    served: Served,
    runtime: Runtime,
    job_ids: set[uuid.UUID],
) -> int:
    """Write results (naming the model that made them) and failures in one transaction,
    with the webhook event of each of the batch's `job_ids` this made final."""
    card = served.model.card
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        written = record_results(
            outcomes,
            session=session,
            worker_id=runtime.worker_id,
            model_name=card.name,
            model_version=card.version,
            model_id=served.model_id,
        )
        fail_items(errors, session=session)
        record_final_events(job_ids, session=session)
    return written


def log_predictions(outcomes: list[Outcome], served: Served) -> None:
    """Log one line per prediction: job, item, model, label and latencies."""
    card, source = served.model.card, served.model.source
    for outcome in outcomes:
        item = outcome.item
        logger.info(
            "prediction",
            extra={
                "job_id": str(item.job_id),
                "item_id": str(item.id),
                "model_id": served.model_id,
                "model_name": card.name,
                "model_version": card.version,
                "registered_version": source.registered_version,
                "label": outcome.label,
                "probability": round(outcome.probability, 6),
                "queue_ms": round((item.claimed_at - item.created_at).total_seconds() * 1e3, 2),
                "inference_ms": round(outcome.inference_ms, 2),
            },
        )


def hand_back(items: list[ClaimedItem], runtime: Runtime) -> None:
    """Return unfinished items to the queue; best effort when the database is down."""
    if not items:
        return
    runtime.recent.discard(item.id for item in items)
    try:
        with get_session(runtime.settings.resolved_database_url) as session:
            release_items([item.id for item in items], session=session, worker_id=runtime.worker_id)
    except Exception:
        logger.warning("could not hand back %d items; their lease will expire", len(items))
