"""The worker's Celery app: the shared configuration plus process start-up and shutdown hooks.

The model is loaded when a pool process starts (`worker_process_init`, sent by the solo
pool and by each prefork child), so a prefork parent never imports TensorFlow.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from core.logging import configure_logging
from core.queue import make_celery
from core.settings import get_settings
from core.storage import BlobStore
from db.session import dispose_engines
from worker.broker import tolerate_lost_redis_client
from worker.health import HealthState, serve_health
from worker.inference import Runtime
from worker.model_holder import load_model
from worker.sweeper import SweeperThread

logger = logging.getLogger(__name__)

settings = get_settings()
tolerate_lost_redis_client()
app = make_celery(settings)
app.conf.imports = ["worker.tasks"]

_runtime: Runtime | None = None
_sweeper: SweeperThread | None = None
_health = HealthState()


def get_runtime() -> Runtime:
    """Return this process's runtime, loading the model on first use."""
    global _runtime
    if _runtime is None:
        current = get_settings()
        model = load_model(
            current.model_uri, max_batch_size=current.max_batch_size, threads=current.tf_threads
        )
        store = BlobStore(current.resolved_storage_url)
        _runtime = Runtime(current, model, store, current.resolved_worker_id)
    return _runtime


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    current = get_settings()
    configure_logging(current.log_level, json_lines=current.log_json)


@signals.worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    dispose_engines()
    get_runtime()


@signals.worker_init.connect
def _start_health(**_: Any) -> None:
    port = get_settings().health_port
    if port is not None:
        serve_health(port, _health)


@signals.worker_ready.connect
def _on_ready(**_: Any) -> None:
    global _sweeper
    current = get_settings()
    if current.embedded_sweeper:
        _sweeper = SweeperThread(current, app)
        _sweeper.start()
    if _runtime is not None:
        card = _runtime.model.card
        _health.details.update(model_name=card.name, model_version=card.version)
    _health.ready = True
    logger.info("worker ready", extra={"worker_id": get_settings().resolved_worker_id})


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _health.ready = False
    if _sweeper is not None:
        _sweeper.stop()
