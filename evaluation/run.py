"""Score the API's answers for a labelled folder and judge them by the deploy gate.

The CLI (`inferq evaluate`) sends the folder through the client and hands the answers
here as the API's JSON, so this package needs nothing but core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from core.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_intervals
from core.model_card import ModelCard
from evaluation.dataset import Sample
from evaluation.gate import Comparison, judge
from evaluation.report import (
    Answer,
    EvaluationReport,
    Intervals,
    PatientCall,
    PerPatient,
    TileMetrics,
    off_rule,
    patient_key,
    patient_outcomes,
    positive_of,
    tile_metrics,
)

LATENCIES = ("total", "queue", "inference")


class GateOptions(BaseModel):
    """How strict the gate is: the tolerated drop, and whether a missing card may pass."""

    tolerance: float = 0.05
    allow_no_card: bool = False


def percentiles(
    values: Sequence[float], points: Sequence[int] = (50, 95, 99)
) -> dict[str, float | None]:
    """Return p50/p95/p99 (nearest rank) of values, or None for each when there are none."""
    if not values:
        return {f"p{p}": None for p in points}
    array = np.asarray(values, dtype=np.float64)
    return {f"p{p}": round(float(np.percentile(array, p, method="nearest")), 3) for p in points}


def latency_percentiles(answers: list[Answer]) -> dict[str, dict[str, float | None]]:
    """Return p50/p95/p99 of each latency the API recorded, in milliseconds."""
    return {
        kind: percentiles([v for a in answers if (v := a.latency_ms.get(kind)) is not None])
        for kind in LATENCIES
    }


def intervals(
    samples: list[Sample], classified: list[Answer], patients: PerPatient, positive: str | None
) -> Intervals:
    """Return the 95% intervals of tile accuracy, AUC and patient accuracy over patients."""
    by_name = {sample.name: sample for sample in samples}
    truth = [by_name[answer.filename].label for answer in classified]
    patient_ids = np.array(
        [patient_key(by_name[a.filename].patient_id) for a in classified], dtype=str
    )
    correct = np.array([a.label == t for a, t in zip(classified, truth, strict=True)], dtype=bool)
    auc_truth = auc_scores = None
    if positive is not None:
        auc_truth = np.array([t == positive for t in truth], dtype=bool)
        auc_scores = np.array([(a.scores or {}).get(positive, 0.0) for a in classified])
    calls = {p.patient_id: p.correct for p in patients.patients if p.call is not None}
    found = bootstrap_intervals(patient_ids, correct, auc_truth, auc_scores, calls)
    return Intervals(**found, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)


def verdict(
    samples: list[Sample],
    classified: list[Answer],
    patients: PerPatient,
    tiles: TileMetrics,
    card: ModelCard | None,
    options: GateOptions,
) -> Comparison:
    """Hand the gate what it judges: who answered, what was not classified or not called."""
    answered = {answer.filename for answer in classified}
    return judge(
        accuracy=tiles.accuracy,
        auc=tiles.roc_auc,
        card=card,
        tolerance=options.tolerance,
        allow_no_card=options.allow_no_card,
        served=sorted({f"{a.model_name}:{a.model_version}" for a in classified}),
        failed_images=[sample.name for sample in samples if sample.name not in answered],
        dropped_patients=[p.patient_id for p in patients.patients if p.call is None],
        off_rule=off_rule(classified, card),
    )


def build_report(
    samples: list[Sample],
    items: list[dict[str, Any]],
    patients: list[dict[str, Any]],
    *,
    job_id: str,
    wall_seconds: float,
    card: ModelCard | None,
    options: GateOptions,
    api_url: str,
) -> EvaluationReport:
    """Score result items and the summary's patients against the samples' labels."""
    truth_by_name = {sample.name: sample.label for sample in samples}
    answers = [Answer.model_validate(item) for item in items]
    classified = [a for a in answers if a.status == "succeeded" and a.filename in truth_by_name]
    truth = [truth_by_name[a.filename] for a in classified]
    seen = sorted(set(truth) | {a.label for a in classified if a.label})
    classes = list(card.class_names) if card else seen
    tiles = tile_metrics(truth, classified, classes, card)
    groups = [PatientCall.model_validate(group) for group in patients]
    per_patient = patient_outcomes(samples, groups)
    positive = positive_of(classes, card)
    return EvaluationReport(
        **tiles.model_dump(),
        api_url=api_url,
        job_id=job_id,
        n=len(samples),
        n_classified=len(classified),
        n_failed=len(samples) - len(classified),
        classes=classes,
        positive_class=positive,
        threshold=card.threshold if card else 0.5,
        n_patients=per_patient.n_patients,
        per_patient=per_patient,
        intervals=intervals(samples, classified, per_patient, positive),
        latency_ms=latency_percentiles(classified),
        wall_seconds=round(wall_seconds, 3),
        images_per_second=round(len(samples) / max(wall_seconds, 1e-9), 2),
        comparison=verdict(samples, classified, per_patient, tiles, card, options),
    )
