"""The model a worker serves: loaded, smoke-checked and recorded in the `models` table.

Every result names the row of the model that produced it, so the gateway learns which
model a job was served by from the database alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from db.served import record_model
from db.session import get_session
from worker.model_holder import LoadedModel, load_model
from worker.smoke import smoke_check


@dataclass(frozen=True)
class Served:
    """A loaded model and its row in the `models` table."""

    model: LoadedModel
    model_id: int

    @property
    def label(self) -> str:
        """Return "name version" (and the registry version), for logs."""
        card, source = self.model.card, self.model.source
        registered = f" (registry {source.registered_version})" if source.registered_version else ""
        served_as = f"{self.model.runtime} {self.model.precision}"
        return f"{card.name} {card.version}{registered} [{served_as}]"


def model_row(model: LoadedModel) -> dict[str, Any]:
    """Return the `models` row of a loaded model, keyed by a fingerprint of what it is.

    The runtime and precision are part of what it is: the int8 file of a version is
    another served model than its fp32 file, and results say which produced them.
    """
    card, source = model.card, model.source
    identity = {
        "card": card.model_dump(mode="json"),
        "registered_name": source.registered_name,
        "registered_version": source.registered_version,
        "run_id": source.run_id,
        "runtime": model.runtime,
        "precision": model.precision,
    }
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return {
        "fingerprint": fingerprint,
        "name": card.name,
        "version": card.version,
        "data_hash": card.data_hash,
        **{key: value for key, value in identity.items() if key != "card"},
        "card": identity["card"],
    }


def record_served(model: LoadedModel, settings: Settings) -> Served:
    """Record a loaded model in the database (once per distinct model) and return it."""
    with get_session(settings.resolved_database_url) as session:
        model_id = record_model(model_row(model), session=session)
    return Served(model, model_id)


def load_served(uri: str, settings: Settings) -> Served:
    """Load the model a URI names, smoke-check it and record it; raise if it cannot serve."""
    model = load_model(
        uri,
        max_batch_size=settings.max_batch_size,
        threads=settings.tf_threads,
        runtime=settings.runtime,
        precision=settings.precision,
        litert_threads=settings.litert_threads,
    )
    smoke_check(model)
    return record_served(model, settings)
