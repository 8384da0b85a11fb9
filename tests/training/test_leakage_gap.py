"""The evaluate stage reports the leaky split's accuracy gap with its interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.prepare import PreparedSplit
from training.stages.common import LEAKAGE_OUTCOMES, LEAKAGE_REPORT
from training.stages.evaluate import leakage_gap


def test_the_gap_between_a_leaky_and_a_patient_level_test_has_an_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    LEAKAGE_REPORT.parent.mkdir(parents=True)
    LEAKAGE_REPORT.write_text(json.dumps({"enabled": True, "test_accuracy": 1.0}))
    ids = np.repeat([f"P{i:02d}" for i in range(30)], 5)
    LEAKAGE_OUTCOMES.write_text(
        "patient_id,correct\n" + "".join(f"{patient},1\n" for patient in ids)
    )
    labels = np.zeros(len(ids), dtype=np.int64)
    predicted = np.where(np.arange(len(ids)) % 4 == 0, 1, 0)  # a quarter wrong
    split = PreparedSplit(np.zeros((len(ids), 1)), labels, ids, ids)
    report = leakage_gap(split, predicted)
    assert report["test_accuracy"] == 1.0
    assert report["accuracy_gap"] == pytest.approx(38 / 150)  # 38 of 150 wrong
    low, high = report["accuracy_gap_interval_95"]
    assert 0 < low < 38 / 150 < high
    LEAKAGE_REPORT.write_text(json.dumps({"enabled": False}))
    assert leakage_gap(split, predicted) == {"enabled": False}
