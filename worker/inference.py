"""The batched inference step: claim items, decode their blobs, run the model, persist."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from core.preprocessing import ImageError, decode_image
from core.settings import Settings
from core.storage import BlobStore
from db.claims import ClaimedItem, Outcome, claim_items, fail_items, record_results, release_items
from db.session import get_session
from worker.model_holder import LoadedModel

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What one worker process holds: settings, the model and the blob store."""

    settings: Settings
    model: LoadedModel
    store: BlobStore
    worker_id: str


def decode_claimed(
    items: list[ClaimedItem], runtime: Runtime
) -> tuple[list[ClaimedItem], np.ndarray, dict[uuid.UUID, str]]:
    """Decode each item's image; an unreadable one becomes an error, not a batch failure."""
    card = runtime.model.card
    decoded: list[ClaimedItem] = []
    arrays: list[np.ndarray] = []
    errors: dict[uuid.UUID, str] = {}
    for item in items:
        try:
            data = runtime.store.get(item.content_hash)
            arrays.append(
                decode_image(
                    data,
                    card.input_size,
                    resample=card.preprocessing.resample,
                    max_pixels=runtime.settings.max_image_pixels,
                )
            )
            decoded.append(item)
        except ImageError as exc:
            errors[item.id] = f"invalid image: {exc}"
        except FileNotFoundError:
            errors[item.id] = "image blob missing from storage"
    height, width = card.input_size
    batch = np.stack(arrays) if arrays else np.zeros((0, height, width, 3), np.uint8)
    return decoded, batch, errors


def to_outcomes(
    items: list[ClaimedItem], probabilities: np.ndarray, model_ms: float, class_names: list[str]
) -> list[Outcome]:
    """Turn model outputs into outcomes carrying label, probability, scores and latencies."""
    outcomes = []
    for item, row in zip(items, probabilities, strict=True):
        best = int(np.argmax(row))
        outcomes.append(
            Outcome(
                item=item,
                label=class_names[best],
                probability=float(row[best]),
                scores={name: float(p) for name, p in zip(class_names, row, strict=True)},
                inference_ms=model_ms,
            )
        )
    return outcomes


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
            self.stages[name] = round((time.perf_counter() - started) * 1000.0, 2)


def claim(item_ids: list[uuid.UUID], runtime: Runtime) -> list[ClaimedItem]:
    """Claim whichever of the items this worker may take now."""
    settings = runtime.settings
    with get_session(settings.resolved_database_url) as session:
        return claim_items(
            item_ids,
            session=session,
            worker_id=runtime.worker_id,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )


def persist(outcomes: list[Outcome], errors: dict[uuid.UUID, str], runtime: Runtime) -> int:
    """Write results and failures in one transaction; return how many items succeeded."""
    card = runtime.model.card
    with get_session(runtime.settings.resolved_database_url) as session:
        written = record_results(
            outcomes,
            session=session,
            worker_id=runtime.worker_id,
            model_name=card.name,
            model_version=card.version,
        )
        fail_items(errors, session=session)
    return written


def process_items(item_ids: list[uuid.UUID], runtime: Runtime) -> int:
    """Classify the given items if this worker can claim them; return how many succeeded."""
    timer = StageTimer()
    with timer("claim"):
        claimed = claim(item_ids, runtime)
    if not claimed:
        return 0
    try:
        with timer("decode"):
            decoded, batch, errors = decode_claimed(claimed, runtime)
        with timer("model"):
            probabilities, model_ms = runtime.model.predict(batch) if len(batch) else (batch, 0.0)
        outcomes = to_outcomes(decoded, probabilities, model_ms, runtime.model.card.class_names)
        with timer("write"):
            written = persist(outcomes, errors, runtime)
    except BaseException:
        hand_back(claimed, runtime)
        raise
    logger.info(
        "batch done: %d succeeded, %d failed",
        written,
        len(errors),
        extra={"stages_ms": timer.stages, "job_ids": sorted({str(i.job_id) for i in claimed})},
    )
    return written


def hand_back(items: list[ClaimedItem], runtime: Runtime) -> None:
    """Return unfinished items to the queue; best effort when the database is down."""
    try:
        with get_session(runtime.settings.resolved_database_url) as session:
            release_items([item.id for item in items], session=session, worker_id=runtime.worker_id)
    except Exception:
        logger.warning("could not hand back %d items; their lease will expire", len(items))
