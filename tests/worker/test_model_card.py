"""A worker reads `model.json` through core's rule: a bad card is one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.model_card import CARD_FILE, KERAS_FILE, CardError


def test_the_worker_reads_a_card_through_the_same_rule(tmp_path: Path, model_dir: Path) -> None:
    from worker.model_holder import load_model

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / KERAS_FILE).write_bytes((model_dir / KERAS_FILE).read_bytes())
    card = json.loads((model_dir / CARD_FILE).read_text()) | {"threshold": 2}
    (broken / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(CardError, match=r"model\.json: threshold: Input should be less than or"):
        load_model(str(broken), max_batch_size=2)
