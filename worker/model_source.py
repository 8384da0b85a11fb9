"""Where a served model comes from: a local directory or a version in the MLflow registry.

`models:/<name>@<alias>` is resolved to a version, downloaded once into the cache and read
from there; versions never change, so a cached copy is the model. TensorFlow-free.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.commands import command_hint
from core.model_card import CARD_FILE
from core.model_files import MODEL_FILES
from core.settings import get_settings

logger = logging.getLogger(__name__)

MODELS_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelSource:
    """A model directory and, when it came from the registry, which version and run."""

    uri: str
    directory: Path
    registered_name: str | None = None
    registered_version: str | None = None
    run_id: str | None = None

    @property
    def follows_alias(self) -> bool:
        """Whether the URI names an alias, which can move to another version."""
        return self.uri.startswith(MODELS_SCHEME) and "@" in self.uri


def registry_client(tracking_uri: str | None = None) -> Any:
    """Return an MLflow client of the tracking URI (default: the settings')."""
    from mlflow.tracking import MlflowClient

    tracking_uri = tracking_uri or get_settings().mlflow_tracking_uri
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def registered_version(uri: str, client: Any) -> tuple[str, str]:
    """Return (name, version) a `models:/name@alias` or `models:/name/version` URI names."""
    reference = uri.removeprefix(MODELS_SCHEME)
    if "@" in reference:
        name, alias = reference.rsplit("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, version = reference.rpartition("/")
    if not name or not version.isdigit():
        raise ValueError(f"unsupported model URI {uri!r}: use models:/<name>@<alias>")
    return name, version


def holds_model(directory: Path) -> bool:
    """Return whether a directory holds a card and at least one model file."""
    has_file = any((directory / name).exists() for name in MODEL_FILES)
    return has_file and (directory / CARD_FILE).exists()


def resolve_model(
    uri: str, *, tracking_uri: str | None = None, cache_dir: Path | None = None
) -> ModelSource:
    """Return where the model a URI names lies locally, downloading a registry version."""
    if uri.startswith(MODELS_SCHEME):
        return download_registered_model(uri, tracking_uri=tracking_uri, cache_dir=cache_dir)
    path = Path(uri).expanduser()
    if not holds_model(path):
        raise FileNotFoundError(
            f"no model at {path.absolute()}: expected model.json and {' or '.join(MODEL_FILES)} "
            f"(train one with `.venv/bin/dvc repro` or "
            f"{command_hint('train --quick --out models/default')})"
        )
    return ModelSource(uri, path)


def download_registered_model(
    uri: str, *, tracking_uri: str | None = None, cache_dir: Path | None = None
) -> ModelSource:
    """Download a registered model version's directory from MLflow once; return it."""
    from mlflow.artifacts import download_artifacts

    client = registry_client(tracking_uri)
    name, version = registered_version(uri, client)
    details = client.get_model_version(name, version)
    target = (cache_dir or get_settings().data_dir / "models") / name / version
    source = ModelSource(uri, target, name, version, details.run_id or None)
    if (target / CARD_FILE).exists():
        logger.info("model %s version %s from cache %s", name, version, target)
        return source
    artifact_uri = client.get_model_version_download_uri(name, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        local = Path(download_artifacts(artifact_uri=artifact_uri, dst_path=scratch))
        if not holds_model(local):
            raise FileNotFoundError(
                f"{uri} (version {version}) holds no {CARD_FILE} + {' or '.join(MODEL_FILES)}"
            )
        local.replace(target)  # atomic: a concurrent loader sees all of it or none
    logger.info("downloaded model %s version %s to %s", name, version, target)
    return source
