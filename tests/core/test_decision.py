"""The one decision rule (core.decision): threshold on the positive class, else argmax."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.decision import DecisionRule, decide_index, label_scores
from core.model_card import ModelCard, Preprocessing

BINARY = ("benign", "malignant")
THREE = ("benign", "atypical", "malignant")


@pytest.mark.parametrize(
    ("threshold", "score", "label"),
    [
        (0.2, 0.2, "malignant"),
        (0.2, 0.19, "benign"),
        (0.8, 0.79, "benign"),
        (0.8, 0.8, "malignant"),
    ],
)
def test_binary_positive_iff_its_score_reaches_the_threshold(
    threshold: float, score: float, label: str
) -> None:
    rule = DecisionRule(BINARY, threshold, "malignant")
    assert rule.label({"benign": 1 - score, "malignant": score}) == label


def test_multiclass_threshold_decides_the_positive_class_and_scores_decide_the_rest() -> None:
    rule = DecisionRule(THREE, 0.5, "malignant")
    # Highest score but under the threshold: the best other class.
    assert rule.label({"benign": 0.25, "atypical": 0.3, "malignant": 0.45}) == "atypical"
    # At or above the threshold it is positive, even when another class scores higher.
    low = DecisionRule(THREE, 0.3, "malignant")
    assert low.label({"benign": 0.4, "atypical": 0.3, "malignant": 0.3}) == "malignant"
    assert rule.label({"benign": 0.2, "atypical": 0.3, "malignant": 0.5}) == "malignant"


def test_without_a_positive_class_the_highest_score_wins_and_ties_go_first() -> None:
    rule = DecisionRule(THREE, 0.9)
    assert rule.label({"benign": 0.2, "atypical": 0.5, "malignant": 0.3}) == "atypical"
    assert rule.index([0.4, 0.4, 0.2]) == 0
    assert decide_index([0.1, 0.45, 0.45], threshold=0.5, positive_index=0) == 1


@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=5),
    st.floats(0, 1, allow_nan=False),
    st.data(),
)
def test_positive_exactly_when_the_score_reaches_the_threshold(
    row: list[float], threshold: float, data: st.DataObject
) -> None:
    positive = data.draw(st.integers(0, len(row) - 1))
    names = tuple(f"c{i}" for i in range(len(row)))
    rule = DecisionRule(names, threshold, names[positive])
    index = rule.index(row)
    assert (index == positive) == (row[positive] >= threshold)
    if index != positive:
        assert row[index] == max(s for i, s in enumerate(row) if i != positive)
    assert rule.indices(np.array([row, row])).tolist() == [index, index]


def test_the_card_states_the_rule() -> None:
    card = ModelCard(
        name="m",
        version="1",
        class_names=list(BINARY),
        input_size=(8, 8),
        preprocessing=Preprocessing(input_size=(8, 8)),
        threshold=0.8,
        positive_class="malignant",
    )
    rule = DecisionRule.from_card(card)
    assert (rule.class_names, rule.threshold, rule.positive_index) == (BINARY, 0.8, 1)
    assert rule.label({"benign": 0.3, "malignant": 0.7}) == "benign"
    assert rule.label({"malignant": 0.9}) == "malignant"  # a class missing scores 0


def test_scores_by_name_without_the_positive_class_are_never_positive() -> None:
    scores = {"benign": 0.1, "atypical": 0.9}
    assert label_scores(scores, threshold=0.0, positive_class="malignant") == "atypical"
    assert label_scores(scores, threshold=0.95, positive_class="atypical") == "benign"


@pytest.mark.parametrize(
    ("threshold", "positive", "reason"),
    [(1.5, None, "between 0 and 1"), (0.5, "tumour", "not one of")],
)
def test_an_invalid_rule_is_refused(threshold: float, positive: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        DecisionRule(BINARY, threshold, positive)
    with pytest.raises(ValueError, match="one other class"):
        decide_index([0.1], threshold=0.5, positive_index=0)
