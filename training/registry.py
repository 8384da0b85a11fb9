"""The model lifecycle behind `inferq models`: list registered versions, promote, roll back.

An alias (`champion` by default) names the version that workers serving
`models:/<name>@<alias>` load. Moving it records the version it replaces in the registered
model's alias history (a tag, see training/tracking.py); a rollback points the alias at the
latest entry of that history and drops the entry. TensorFlow-free; it imports MLflow, so the
CLI imports it inside its commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.model_card import ModelCard
from core.model_files import describe
from training.params import QuantizationParams
from training.quantize import QuantizationError, check_int8
from training.tracking import (
    Registration,
    alias_history,
    alias_version,
    client_for,
    finish_run,
    point_alias,
    register_model_dir,
    save_alias_history,
    start_run,
)

DEFAULT_ALIAS = "champion"


class RegistryError(ValueError):
    """Raised when the registry cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: where it came from and how it did."""

    name: str
    version: str
    aliases: list[str]
    created: datetime
    run_id: str
    card_version: str
    data_hash: str
    metrics: dict[str, float]
    files: str = "model.keras (tensorflow fp32)"  # each file's runtime and precision


@dataclass(frozen=True)
class AliasMove:
    """An alias that now points at `version`, and what it pointed at before."""

    name: str
    alias: str
    version: str
    previous: str | None


def _check_registered(client: MlflowClient, name: str) -> None:
    if "'" in name:
        raise RegistryError(f"model names with quotes are not supported: {name!r}")
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(f"no registered model {name!r}") from exc


def _test_metrics(client: MlflowClient, run_id: str) -> dict[str, float]:
    """Return the run's test-split metrics; none when the run is gone."""
    try:
        metrics = client.get_run(run_id).data.metrics
    except MlflowException:
        return {}
    return {key: float(value) for key, value in metrics.items() if key.startswith("test_")}


def _describe(client: MlflowClient, version: ModelVersion, aliases: list[str]) -> VersionInfo:
    return VersionInfo(
        name=version.name,
        version=str(version.version),
        aliases=sorted(aliases),
        created=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
        run_id=version.run_id or "",
        card_version=version.tags.get("card_version", ""),
        data_hash=version.tags.get("data_hash", ""),
        files=version.tags.get("files", VersionInfo.files),
        metrics=_test_metrics(client, version.run_id) if version.run_id else {},
    )


def _versions_of(client: MlflowClient, name: str) -> list[VersionInfo]:
    """Describe every version of one registered model, with the aliases pointing at it."""
    # Searched versions carry no aliases on every store; the registered model has them all.
    held: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        held.setdefault(str(version), []).append(alias)
    return [
        _describe(client, version, held.get(str(version.version), []))
        for version in client.search_model_versions(f"name = '{name}'")
    ]


def list_versions(tracking_uri: str, name: str | None = None) -> list[VersionInfo]:
    """Return every version of one registered model (or of all), oldest first per model."""
    client = client_for(tracking_uri)
    if name is not None:
        _check_registered(client, name)
    names = [name] if name else [model.name for model in client.search_registered_models()]
    found = [info for each in names if "'" not in each for info in _versions_of(client, each)]
    return sorted(found, key=lambda info: (info.name, int(info.version)))


def promote(tracking_uri: str, name: str, version: str, alias: str = DEFAULT_ALIAS) -> AliasMove:
    """Point the alias at a version, remembering the one it replaces for a rollback."""
    client = client_for(tracking_uri)
    _check_registered(client, name)
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{name} has no version {version!r}") from exc
    previous = alias_version(client, name, alias)
    point_alias(client, name, alias, version)
    return AliasMove(name, alias, version, previous)


def _version_exists(client: MlflowClient, name: str, version: str) -> bool:
    try:
        client.get_model_version(name, version)
    except MlflowException:
        return False
    return True


def rollback(tracking_uri: str, name: str, alias: str = DEFAULT_ALIAS) -> AliasMove:
    """Point the alias back at the version it held before the last promotion."""
    client = client_for(tracking_uri)
    _check_registered(client, name)
    current = alias_version(client, name, alias)
    history = alias_history(client, name, alias)
    while history:
        candidate = history.pop()
        if candidate != current and _version_exists(client, name, candidate):
            # Alias first: were the history not saved, its last entry is now the current
            # version, which the next rollback skips.
            client.set_registered_model_alias(name, alias, candidate)
            save_alias_history(client, name, alias, history)
            return AliasMove(name, alias, candidate, current)
    raise RegistryError(
        f"{name}@{alias} has no earlier version to roll back to: no promotion or "
        "registration moved it away from one that still exists"
    )


def register_directory(
    tracking_uri: str,
    model_dir: Path,
    card: ModelCard,
    alias: str,
    *,
    max_accuracy_drop: float = QuantizationParams().max_accuracy_drop,
    max_auc_drop: float = QuantizationParams().max_auc_drop,
) -> Registration:
    """Register a model directory as a new version of `card.name` in a run of its own.

    An int8 file whose recorded loss against fp32 exceeds the limits is refused first.
    """
    try:
        check_int8(card.files, max_accuracy_drop=max_accuracy_drop, max_auc_drop=max_auc_drop)
    except QuantizationError as exc:
        raise RegistryError(str(exc)) from exc
    client = client_for(tracking_uri)
    params = {"source": "inferq models import", "card_version": card.version}
    run_id = start_run(client, params, run_name=f"import {card.name} {card.version}")
    tags = {"card_version": card.version, "data_hash": card.data_hash}
    tags |= {"files": describe(card.model_files)}  # the runtime and precision of each file
    try:
        registration = register_model_dir(
            client, run_id, model_dir, name=card.name, alias=alias, tags=tags
        )
    except MlflowException as exc:
        finish_run(client, run_id, status="FAILED")
        raise RegistryError(f"cannot register {card.name}: {exc.message}") from exc
    finish_run(client, run_id)
    return registration
