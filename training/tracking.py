"""MLflow tracking and registry for the pipeline: one run per training, spanning the stages.

`train` creates the run and logs params and per-epoch metrics; `evaluate` and `export` add
their metrics and artefacts to the same run (its ID travels in `data/model/run.json`), and
`export` registers the exported model directory and points an alias at it. TensorFlow-free.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

EXPERIMENT = "inferq"
MODEL_ARTIFACT_PATH = "model"
#: Registered-model tag listing, oldest first, the versions an alias pointed at before.
HISTORY_TAG = "inferq.alias_history.{alias}"
HISTORY_LENGTH = 50


def client_for(tracking_uri: str) -> MlflowClient:
    """Return a client whose tracking and registry stores are both `tracking_uri`."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def start_run(client: MlflowClient, params: Mapping[str, str], run_name: str) -> str:
    """Create a run in the inferq experiment, log its params, and return its ID."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment_id, run_name=run_name)
    entries = [Param(key, value[:6000]) for key, value in sorted(params.items())]
    for start in range(0, len(entries), 100):
        client.log_batch(run.info.run_id, params=entries[start : start + 100])
    logger.info("MLflow run %s in experiment %s", run.info.run_id, EXPERIMENT)
    return str(run.info.run_id)


def log_metrics(
    client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int = 0
) -> None:
    """Log numeric metrics (NaN skipped) at one step."""
    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, step) for k, v in metrics.items() if v == v]
    if entries:
        client.log_batch(run_id, metrics=entries)


@dataclass(frozen=True)
class Registration:
    """Where a model landed in the registry."""

    name: str
    version: str
    alias: str
    run_id: str
    source: str


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="inferq served model (model.json + .keras)"
        )


def register_model_dir(
    client: MlflowClient,
    run_id: str,
    model_dir: Path,
    *,
    name: str,
    alias: str,
    tags: Mapping[str, str],
) -> Registration:
    """Log a model directory to the run, register it as a new version and alias it."""
    client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_ARTIFACT_PATH)
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT_PATH}"
    _ensure_registered_model(client, name)
    version = client.create_model_version(name, source, run_id=run_id, tags=dict(tags))
    point_alias(client, name, alias, str(version.version))
    logger.info("registered %s version %s as @%s", name, version.version, alias)
    return Registration(name, str(version.version), alias, run_id, source)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Return the version an alias points at, or None when it points nowhere."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def alias_history(client: MlflowClient, name: str, alias: str) -> list[str]:
    """Return the versions the alias pointed at before, oldest first."""
    value = client.get_registered_model(name).tags.get(HISTORY_TAG.format(alias=alias), "")
    return [version for version in value.split(",") if version]


def save_alias_history(client: MlflowClient, name: str, alias: str, history: list[str]) -> None:
    """Store the alias's history (its latest HISTORY_LENGTH entries) on the registered model."""
    value = ",".join(history[-HISTORY_LENGTH:])
    client.set_registered_model_tag(name, HISTORY_TAG.format(alias=alias), value)


def point_alias(client: MlflowClient, name: str, alias: str, version: str) -> str | None:
    """Point an alias at a version and return the version it replaced (None if none or same).

    The replaced version is appended to the alias's history first, so a rollback can restore
    it; were the move itself lost, the history ends with the current version, which a
    rollback skips.
    """
    replaced = alias_version(client, name, alias)
    if replaced == version:
        return None
    if replaced is not None:
        save_alias_history(client, name, alias, [*alias_history(client, name, alias), replaced])
    client.set_registered_model_alias(name, alias, version)
    return replaced


def finish_run(client: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run finished (or FAILED); later stages may still add metrics and artefacts."""
    client.set_terminated(run_id, status=status)
