"""The worker's Celery app: the shared configuration plus process start-up and shutdown hooks.

The model is loaded when a pool process starts (`worker_process_init`, sent by the solo
pool and by each prefork child), so a prefork parent never imports TensorFlow. What the
process holds lives on the inference task's base class (worker.tasks.InferenceTask).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from core.logging import configure_logging
from core.queue import make_celery
from core.settings import get_settings
from core.tasks import INFER_ITEMS
from db.session import dispose_engines
from worker.broker import tolerate_lost_redis_client
from worker.health import HealthState, serve_health
from worker.sweeper import SweeperThread

logger = logging.getLogger(__name__)

app = make_celery(get_settings())
app.conf.imports = ["worker.tasks"]


class WorkerProcess:
    """What the worker's signal handlers share: health, the sweeper, the inference task."""

    def __init__(self) -> None:
        self.health = HealthState()
        self.sweeper: SweeperThread | None = None

    @staticmethod
    def inference_task() -> Any:
        """Return the registered inference task (its base holds the engine)."""
        return app.tasks[INFER_ITEMS]


process = WorkerProcess()


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    current = get_settings()
    configure_logging(current.log_level, json_lines=current.log_json)


@signals.worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    dispose_engines()
    engine = process.inference_task().engine
    process.health.counters = engine.runtime.counters
    card = engine.runtime.model.card
    process.health.details.update(model_name=card.name, model_version=card.version)


@signals.worker_init.connect
def _start(**_: Any) -> None:
    tolerate_lost_redis_client()
    port = get_settings().health_port
    if port is not None:
        serve_health(port, process.health)


@signals.worker_ready.connect
def _on_ready(**_: Any) -> None:
    current = get_settings()
    if current.embedded_sweeper:
        process.sweeper = SweeperThread(current, app)
        process.sweeper.start()
    process.health.ready = True
    logger.info("worker ready", extra={"worker_id": current.resolved_worker_id})


@signals.worker_shutting_down.connect
def _stop_draining(**_: Any) -> None:
    # Sent as the warm shutdown begins: the running batch finishes, prefetched ones go back.
    engine = process.inference_task()._engine
    if engine is not None:
        engine.runtime.stopping.set()


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    process.health.ready = False
    if process.sweeper is not None:
        process.sweeper.stop()
