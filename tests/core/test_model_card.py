"""The model card: one schema file generated from it, and one-line errors naming the field."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from core.model_card import CardError, ModelCard, Preprocessing, card_schema_text, validate_card

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "model.schema.json"
CARD: dict[str, Any] = {
    "name": "byo",
    "version": "1",
    "class_names": ["benign", "malignant", "normal"],
    "input_size": [224, 224],
    "preprocessing": {"input_size": [224, 224]},
    "threshold": 0.5,
    "positive_class": "malignant",
}


def test_the_committed_schema_is_the_one_the_card_generates() -> None:
    assert SCHEMA_FILE.read_text() == card_schema_text(), (
        "docs/model.schema.json is stale: run `inferq models schema --out docs/model.schema.json`"
    )


def test_the_schema_accepts_a_written_card_and_catches_what_the_card_refuses(
    tmp_path: Path,
) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    card = ModelCard(
        name="m",
        version="1",
        class_names=["a", "b"],
        input_size=(96, 96),
        preprocessing=Preprocessing(input_size=(96, 96)),
    )
    jsonschema.validate(json.loads(card.write(tmp_path).read_text()), schema)
    for bad in ({"treshold": 0.9}, {"threshold": 2}, {"class_names": ["a", "a"]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(CARD | bad, schema)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": 1.5}, "threshold: Input should be less than or equal to 1 (got 1.5)"),
        ({"positive_class": "tumour"}, "positive_class: 'tumour' is not one of class_names"),
        ({"class_names": ["only"]}, "class_names: List should have at least 2 items"),
        ({"class_names": ["a", "b", "a"]}, "class_names: class names must be unique; repeated: a"),
        ({"input_size": [224, 0]}, "input_size.1: Input should be greater than or equal to 1"),
        ({"preprocessing": {"input_size": [96, 96]}}, "preprocessing: input_size (96, 96) differs"),
        ({"preprocessing": {"input_size": [224, 224], "resample": "cubic"}}, "resample: Input"),
        ({"name": ""}, "name: String should have at least 1 character"),
    ],
)
def test_an_invalid_card_is_one_line_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CardError) as caught:
        validate_card(CARD | change, source="my/model.json")
    text = str(caught.value)
    assert text.startswith("my/model.json: ") and message in text and "\n" not in text


def test_read_names_the_file_and_every_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text("{not json")
    with pytest.raises(CardError, match=r"model\.json: not valid JSON"):
        ModelCard.read(tmp_path)
    path.write_text(json.dumps({"name": "m"}))
    with pytest.raises(CardError) as caught:
        ModelCard.read(tmp_path)
    for field in ("version", "class_names", "input_size", "preprocessing"):
        assert f"{field}: Field required" in str(caught.value)


def test_an_unknown_field_is_ignored_but_named_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="core.model_card"):
        card = validate_card(CARD | {"treshold": 0.9})
    assert card.threshold == 0.5
    assert "ignoring unknown fields treshold" in caplog.text
