"""The deploy gate's rule: it fails closed, and names every rule an evaluation broke."""

from __future__ import annotations

from typing import Any

import pytest

from core.model_card import ModelCard, Preprocessing
from evaluation.gate import Comparison, judge


def card(accuracy: float | None = 0.9, version: str = "1") -> ModelCard:
    return ModelCard(
        name="m",
        version=version,
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
        positive_class="malignant",
        metrics={"test_auc": 0.9} if accuracy is None else {"test_accuracy": accuracy},
    )


def verdict(**changes: Any) -> Comparison:
    """Judge a clean evaluation (0.88 against 0.9 recorded, all answered) with changes."""
    arguments: dict[str, Any] = {
        "accuracy": 0.88,
        "card": card(),
        "max_drop": 0.05,
        "served": ["m:1"],
        "failed_images": [],
        "dropped_patients": [],
        "off_rule": [],
    }
    return judge(**{**arguments, **changes})


def test_a_clean_evaluation_within_the_allowed_drop_passes() -> None:
    passed = verdict()
    assert passed.passed and passed.failures == []
    assert passed.drop == pytest.approx(0.02)
    assert "within the 0.05 allowed" in passed.reason


@pytest.mark.parametrize(
    ("changes", "failure"),
    [
        ({"card": None}, "no model card"),
        ({"card": card(None)}, "the model card records no test_accuracy"),
        ({"failed_images": ["a.png", "b.png"]}, "2 images not classified, e.g. a.png"),
        ({"dropped_patients": ["P7"]}, "1 patients got no call in the summary, e.g. P7"),
        ({"off_rule": ["c.png"]}, "1 labels differ from the card's decision rule on their"),
        ({"served": ["m:1", "m:2"]}, "the card is m:1 but m:2 answered"),
        ({"served": ["None:None"]}, "the card is m:1 but None:None answered"),
        ({"accuracy": 0.8}, "a drop of 0.100, more than the 0.05 allowed"),
        ({"accuracy": None, "served": []}, "no image was classified"),
    ],
)
def test_each_rule_fails_the_gate_on_its_own(changes: dict[str, Any], failure: str) -> None:
    failed = verdict(**changes)
    assert not failed.passed
    assert len(failed.failures) == 1 and failure in failed.failures[0], failed.failures
    assert failed.reason == failed.failures[0]


def test_every_broken_rule_is_named() -> None:
    failed = verdict(
        card=card(0.95, version="2"), accuracy=0.5, failed_images=["x.png"], dropped_patients=["P1"]
    )
    assert len(failed.failures) == 4
    assert failed.reason == "; ".join(failed.failures)
    assert failed.card_model == "m:2" and failed.served_models == ["m:1"]
