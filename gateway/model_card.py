"""The served model's card, when the gateway can read it from INFERQ_MODEL_URI."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from core.model_card import CARD_FILE, ModelCard
from core.settings import Settings

logger = logging.getLogger(__name__)


def served_card(settings: Settings) -> ModelCard | None:
    """Return the card of a model directory, or None for a remote URI or a missing card."""
    if "://" in settings.model_uri or ":/" in settings.model_uri:
        return None  # e.g. models:/name@alias: only workers resolve registry URIs
    directory = Path(settings.model_uri)
    if not (directory / CARD_FILE).is_file():
        return None
    try:
        return ModelCard.read(directory)
    except (OSError, ValueError, ValidationError):
        logger.warning("unreadable model card in %s", directory)
        return None
