"""Post-deployment evaluation: send labelled images through the API and score the answers.

The report says how the deployed model does on the data (tile metrics, per-patient
accuracy from the API's summary, latencies) and the deploy gate's verdict on it
(evaluation/gate.py).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.decision import DecisionRule
from core.metrics import score_tiles
from core.model_card import ModelCard
from core.patients import normalize_id
from evaluation.dataset import Sample
from evaluation.gate import Comparison


class Answer(BaseModel):
    """One result item as the API returns it (GET /v1/jobs/{id}/results)."""

    model_config = ConfigDict(extra="ignore")

    filename: str
    status: str
    label: str | None = None
    scores: dict[str, float] | None = None
    model_name: str | None = None
    model_version: str | None = None
    latency_ms: dict[str, float | None] = Field(default_factory=dict)


class PatientCall(BaseModel):
    """One patient group of the API's summary (GET /v1/jobs/{id}/summary)."""

    model_config = ConfigDict(extra="ignore")

    patient_id: str | None
    n_images: int
    call: str | None = None


class PatientOutcome(BaseModel):
    """One patient's true label and the API's call for it."""

    patient_id: str
    true_label: str
    call: str | None
    correct: bool
    n_images: int


class PerPatient(BaseModel):
    """Patient-level accuracy of the summary's calls."""

    n_patients: int
    accuracy: float | None
    patients: list[PatientOutcome]


class TileMetrics(BaseModel):
    """Image-level metrics (binary on the positive class, else macro averages)."""

    accuracy: float | None
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    confusion_matrix: dict[str, list[str] | list[list[int]]]


Interval = tuple[float, float] | None


class Intervals(BaseModel):
    """95% confidence intervals by bootstrap over patients (core.metrics.bootstrap_intervals)."""

    accuracy: Interval
    roc_auc: Interval
    patient_accuracy: Interval
    resamples: int
    seed: int


class EvaluationReport(TileMetrics):
    """Everything `inferq evaluate` writes to its JSON report."""

    api_url: str
    job_id: str
    n: int = Field(description="Labelled images sent.")
    n_classified: int
    n_failed: int = Field(description="Images the API could not classify (or did not add).")
    classes: list[str]
    positive_class: str | None
    threshold: float
    n_patients: int = Field(description="Patients in the labelled set.")
    per_patient: PerPatient
    intervals: Intervals
    latency_ms: dict[str, dict[str, float | None]]
    wall_seconds: float
    images_per_second: float
    comparison: Comparison


def positive_of(classes: list[str], card: ModelCard | None) -> str | None:
    """Return the positive class: the card's, else the second of two classes."""
    if card is not None and card.positive_class in classes:
        return card.positive_class
    return classes[1] if len(classes) == 2 else None


def off_rule(items: list[Answer], card: ModelCard | None) -> list[str]:
    """Return the files whose label is not the one the card's decision rule gives its scores."""
    if card is None:
        return []
    rule = DecisionRule.from_card(card)
    return [i.filename for i in items if i.scores is not None and i.label != rule.label(i.scores)]


def finite_or_none(value: float) -> float | None:
    """Return a metric, or None where it is undefined (NaN)."""
    return None if np.isnan(value) else value


def tile_metrics(
    truth: list[str], items: list[Answer], classes: list[str], card: ModelCard | None
) -> TileMetrics:
    """Score the labels the API returned: accuracy, precision/recall/F1, AUC, confusion matrix."""
    positive = positive_of(classes, card)
    index = {name: i for i, name in enumerate(classes)}
    # A class outside the card's is never right: truth and answer get different outsiders.
    labels = np.array([index.get(name, -1) for name in truth], dtype=np.int64)
    served = np.array([index.get(item.label or "", -2) for item in items], dtype=np.int64)
    probabilities = np.array(
        [[(item.scores or {}).get(name, 0.0) for name in classes] for item in items],
        dtype=np.float64,
    ).reshape(len(items), len(classes))
    positive_index = classes.index(positive) if positive is not None else None
    scores = score_tiles(probabilities, labels, served, positive_index)
    return TileMetrics(
        accuracy=finite_or_none(scores.accuracy),
        precision=scores.precision,
        recall=scores.recall,
        f1=scores.f1,
        roc_auc=finite_or_none(scores.roc_auc),
        confusion_matrix={"labels": classes, "matrix": scores.confusion.tolist()},
    )


def patient_key(patient_id: str) -> str:
    """Return the patient's key as the API's summary names it: core's normalised ID."""
    return normalize_id(patient_id) or patient_id


def patient_outcomes(samples: list[Sample], groups: list[PatientCall]) -> PerPatient:
    """Compare each patient's call in the API's summary with the patient's true label."""
    labels: dict[str, Counter[str]] = {}
    for sample in samples:  # the summary names patients by core's normalised ID
        key = patient_key(sample.patient_id)
        labels.setdefault(key, Counter())[sample.label] += 1
    calls = {normalize_id(group.patient_id): group for group in groups if group.patient_id}
    outcomes = []
    for patient_id, counts in sorted(labels.items()):
        truth = counts.most_common(1)[0][0]
        group = calls.get(patient_id)
        call = group.call if group else None
        n_images = group.n_images if group else 0
        outcomes.append(
            PatientOutcome(
                patient_id=patient_id,
                true_label=truth,
                call=call,
                correct=call == truth,
                n_images=n_images,
            )
        )
    called = [o for o in outcomes if o.call is not None]
    accuracy = sum(o.correct for o in called) / len(called) if called else None
    return PerPatient(n_patients=len(outcomes), accuracy=accuracy, patients=outcomes)
