"""The deploy gate's rule: it fails closed, and names every rule an evaluation broke."""

from __future__ import annotations

from typing import Any

import pytest

from core.model_card import ModelCard, Preprocessing
from evaluation.gate import Comparison, judge


def card(accuracy: float | None = 0.9, version: str = "1", auc: float | None = 0.95) -> ModelCard:
    metrics = {"test_accuracy": accuracy, "test_auc": auc}
    return ModelCard(
        name="m",
        version=version,
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
        positive_class="malignant",
        metrics={name: value for name, value in metrics.items() if value is not None},
    )


def verdict(**changes: Any) -> Comparison:
    """Judge a clean evaluation (0.88/0.93 against 0.9/0.95 recorded, all answered) with changes."""
    arguments: dict[str, Any] = {
        "accuracy": 0.88,
        "auc": 0.93,
        "card": card(),
        "tolerance": 0.05,
        "served": ["m:1"],
        "failed_images": [],
        "dropped_patients": [],
        "off_rule": [],
    }
    return judge(**{**arguments, **changes})


def test_a_clean_evaluation_within_the_allowed_drop_passes() -> None:
    passed = verdict()
    assert passed.passed and passed.failures == []
    assert passed.drop == pytest.approx(0.02) and passed.auc_drop == pytest.approx(0.02)
    assert "within the 0.05 allowed" in passed.reason and not passed.card_checks_skipped


@pytest.mark.parametrize(
    ("changes", "failure"),
    [
        ({"card": None}, "no model card"),
        ({"card": card(None)}, "the model card records no test_accuracy"),
        ({"card": card(auc=None)}, "the model card records no test_auc"),
        ({"auc": 0.85}, "AUC 0.850 vs 0.950 recorded at training: a drop of 0.100, more than"),
        ({"auc": None}, "no AUC could be computed"),
        ({"card": None, "allow_no_card": True, "failed_images": ["a.png"]}, "1 images not"),
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


def test_a_small_drop_passes_only_within_the_tolerance() -> None:
    assert verdict(accuracy=0.86, auc=0.91, tolerance=0.05).passed
    assert not verdict(accuracy=0.86, auc=0.91, tolerance=0.03).passed
    assert not verdict(accuracy=0.89, auc=0.91, tolerance=0.03).passed  # AUC alone fails it


def test_allow_no_card_skips_the_cards_checks_and_says_so() -> None:
    skipped = verdict(card=None, allow_no_card=True, served=["x:9"])
    assert skipped.passed and skipped.card_checks_skipped
    assert "checks were skipped (--allow-no-card)" in skipped.reason
    assert skipped.recorded_accuracy is None and skipped.drop is None
