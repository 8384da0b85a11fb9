"""The deploy gate's rule: whether an evaluated stack may take traffic, and why not.

It fails closed: whatever the evaluation could not check counts against the stack. A pass
needs a model card that records `test_accuracy`, every labelled image classified by the
card's model and labelled by the card's decision rule (core/decision.py), a call for every
patient, and an accuracy at most `max_drop` below the recorded one. `inferq evaluate`
applies it and exits 1 on a failure; CD runs it through deploy/gate.sh.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.model_card import ModelCard

RECORDED_METRIC = "test_accuracy"


class Comparison(BaseModel):
    """The gate's verdict: the deployed accuracy against the card's, and every failure."""

    recorded_accuracy: float | None
    accuracy: float | None
    drop: float | None
    max_drop: float
    passed: bool
    reason: str = Field(description="Every failure, joined by '; ' (or why it passed).")
    failures: list[str] = Field(description="One line per rule the evaluation broke.")
    card_model: str | None = Field(description="name:version of the model card compared with.")
    served_models: list[str] = Field(description="name:version of the models that answered.")


def model_failures(card: ModelCard | None, served: list[str]) -> list[str]:
    """Return why the card cannot be judged, or which other models answered."""
    if card is None:
        return ["no model card (GET /v1/model had none and no --model-card was given)"]
    failures = []
    if RECORDED_METRIC not in card.metrics:
        failures.append(f"the model card records no {RECORDED_METRIC} to compare with")
    expected = f"{card.name}:{card.version}"
    others = [model for model in served if model != expected]
    if others:
        failures.append(f"the card is {expected} but {', '.join(others)} answered")
    return failures


def drop_failure(accuracy: float | None, recorded: float | None, max_drop: float) -> str | None:
    """Return the failure when accuracy is more than `max_drop` below the recorded one."""
    if accuracy is None:
        return "no image was classified"
    if recorded is None or recorded - accuracy <= max_drop:
        return None
    return (
        f"accuracy {accuracy:.3f} vs {recorded:.3f} recorded at training: a drop of "
        f"{recorded - accuracy:.3f}, more than the {max_drop:g} allowed"
    )


def judge(
    *,
    accuracy: float | None,
    card: ModelCard | None,
    max_drop: float,
    served: list[str],
    failed_images: list[str],
    dropped_patients: list[str],
    off_rule: list[str],
) -> Comparison:
    """Apply the gate: pass only when every rule holds; list each one that does not."""
    recorded = card.metrics.get(RECORDED_METRIC) if card else None
    failures = model_failures(card, served)
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
    if (failure := drop_failure(accuracy, recorded, max_drop)) is not None:
        failures.append(failure)
    drop = recorded - accuracy if recorded is not None and accuracy is not None else None
    passed = not failures
    reason = (
        "; ".join(failures)
        if failures
        else (
            f"accuracy {accuracy:.3f} vs {recorded:.3f} recorded at training: a drop of "
            f"{drop:.3f}, within the {max_drop:g} allowed"
        )
    )
    return Comparison(
        recorded_accuracy=recorded,
        accuracy=accuracy,
        drop=drop,
        max_drop=max_drop,
        passed=passed,
        reason=reason,
        failures=failures,
        card_model=f"{card.name}:{card.version}" if card else None,
        served_models=served,
    )
