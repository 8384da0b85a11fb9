"""The deploy gate's rule: whether an evaluated stack may take traffic, and why not.

It fails closed: whatever the evaluation could not check counts against the stack. A pass
needs a model card that records `test_accuracy` and `test_auc`, every labelled image
classified by the card's model and labelled by the card's decision rule (core/decision.py),
a call for every patient, and an accuracy and an AUC each at most `tolerance` below the
recorded ones. Only `allow_no_card` lets a stack without a readable card pass; then the
card's checks are skipped and the verdict says so. `inferq evaluate` applies it and exits 1
on a failure; CD runs it through deploy/gate.sh.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.model_card import ModelCard

RECORDED = {"accuracy": "test_accuracy", "roc_auc": "test_auc"}
NO_CARD = "no model card (GET /v1/model had none and no --model-card was given)"


class Comparison(BaseModel):
    """The gate's verdict: the deployed accuracy and AUC against the card's, and every failure."""

    recorded_accuracy: float | None
    accuracy: float | None
    drop: float | None = Field(description="Recorded minus deployed accuracy.")
    recorded_auc: float | None
    auc: float | None
    auc_drop: float | None = Field(description="Recorded minus deployed ROC AUC.")
    tolerance: float = Field(description="Largest drop allowed in accuracy and in AUC.")
    card_checks_skipped: bool = Field(
        description="True when no card was read and --allow-no-card let the gate go on."
    )
    passed: bool
    reason: str = Field(description="Every failure, joined by '; ' (or why it passed).")
    failures: list[str] = Field(description="One line per rule the evaluation broke.")
    card_model: str | None = Field(description="name:version of the model card compared with.")
    served_models: list[str] = Field(description="name:version of the models that answered.")


def model_failures(card: ModelCard | None, served: list[str], allow_no_card: bool) -> list[str]:
    """Return why the card cannot be judged, or which other models answered."""
    if card is None:
        return [] if allow_no_card else [NO_CARD]
    failures = [
        f"the model card records no {name} to compare with"
        for name in RECORDED.values()
        if name not in card.metrics
    ]
    expected = f"{card.name}:{card.version}"
    others = [model for model in served if model != expected]
    if others:
        failures.append(f"the card is {expected} but {', '.join(others)} answered")
    return failures


def drop_failure(
    metric: str, value: float | None, recorded: float | None, tolerance: float
) -> str | None:
    """Return the failure when `value` is more than `tolerance` below the recorded one."""
    if value is None:
        return f"no {metric} could be computed" if recorded is not None else None
    if recorded is None or recorded - value <= tolerance:
        return None
    return (
        f"{metric} {value:.3f} vs {recorded:.3f} recorded at training: a drop of "
        f"{recorded - value:.3f}, more than the {tolerance:g} allowed"
    )


def input_failures(
    failed_images: list[str], dropped_patients: list[str], off_rule: list[str]
) -> list[str]:
    """Return the failures of images not classified, patients not called, labels off the rule."""
    failures = []
    if failed_images:
        failures.append(f"{len(failed_images)} images not classified, e.g. {failed_images[0]}")
    if dropped_patients:
        failures.append(
            f"{len(dropped_patients)} patients got no call in the summary, "
            f"e.g. {dropped_patients[0]}"
        )
    if off_rule:
        failures.append(
            f"{len(off_rule)} labels differ from the card's decision rule on their scores, "
            f"e.g. {off_rule[0]}"
        )
    return failures


def difference(recorded: float | None, value: float | None) -> float | None:
    """Return recorded minus value, or None when either is missing."""
    return recorded - value if recorded is not None and value is not None else None


def passing_reason(comparison: dict[str, Any]) -> str:
    """Return why an evaluation passed, naming skipped card checks."""
    if comparison["card_checks_skipped"]:
        return "no model card: its checks were skipped (--allow-no-card); every image classified"
    return (
        f"accuracy {comparison['accuracy']:.3f} vs {comparison['recorded_accuracy']:.3f} and "
        f"AUC {comparison['auc']:.3f} vs {comparison['recorded_auc']:.3f} recorded at training: "
        f"drops of {comparison['drop']:.3f} and {comparison['auc_drop']:.3f}, "
        f"within the {comparison['tolerance']:g} allowed"
    )


def judge(
    *,
    accuracy: float | None,
    auc: float | None,
    card: ModelCard | None,
    tolerance: float,
    served: list[str],
    failed_images: list[str],
    dropped_patients: list[str],
    off_rule: list[str],
    allow_no_card: bool = False,
) -> Comparison:
    """Apply the gate: pass only when every rule holds; list each one that does not."""
    metrics = card.metrics if card else {}
    recorded_accuracy, recorded_auc = (metrics.get(name) for name in RECORDED.values())
    failures = model_failures(card, served, allow_no_card)
    failures += input_failures(failed_images, dropped_patients, off_rule)
    if accuracy is None:
        failures.append("no image was classified")
    else:
        drops = [("accuracy", accuracy, recorded_accuracy), ("AUC", auc, recorded_auc)]
        failures += [f for m, v, r in drops if (f := drop_failure(m, v, r, tolerance))]
    fields: dict[str, Any] = {
        "recorded_accuracy": recorded_accuracy,
        "accuracy": accuracy,
        "drop": difference(recorded_accuracy, accuracy),
        "recorded_auc": recorded_auc,
        "auc": auc,
        "auc_drop": difference(recorded_auc, auc),
        "tolerance": tolerance,
        "card_checks_skipped": card is None and allow_no_card,
    }
    return Comparison(
        **fields,
        passed=not failures,
        reason="; ".join(failures) if failures else passing_reason(fields),
        failures=failures,
        card_model=f"{card.name}:{card.version}" if card else None,
        served_models=served,
    )
