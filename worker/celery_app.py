"""The worker's Celery app: the shared configuration plus process start-up and shutdown hooks.

The model is loaded when a pool process starts (`worker_process_init`, sent by the solo
pool and by each prefork child, before any task is consumed), so a prefork parent never
imports TensorFlow. A process whose model cannot be loaded, or fails its smoke check,
records why in the `workers` table and exits with EXIT_MODEL_UNUSABLE: it never takes a
task. What the process holds lives on the inference task's base class
(worker.tasks.InferenceTask).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import signals

from core.heap import settle
from core.logging import configure_logging
from core.queue import make_celery
from core.settings import get_settings
from core.tasks import INFER_ITEMS
from db.models import WorkerState
from db.session import dispose_engines
from worker.broker import tolerate_lost_redis_client
from worker.health import HealthState, serve_health
from worker.heartbeat import HeartbeatThread
from worker.model_watch import ModelWatcher
from worker.purge import PurgeThread
from worker.serving import Served
from worker.sweeper import SweeperThread
from worker.webhooks import WebhookSender

logger = logging.getLogger(__name__)

EXIT_MODEL_UNUSABLE = 3  # the exit status of a worker whose model cannot serve

app = make_celery(get_settings())
app.conf.imports = ["worker.tasks"]


class WorkerProcess:
    """What the worker's signal handlers share: health, heartbeat, sweeper, purge, watcher."""

    def __init__(self) -> None:
        self.health = HealthState()
        self.sweeper: SweeperThread | None = None
        self.purge: PurgeThread | None = None
        self.webhooks: WebhookSender | None = None
        self.heartbeat: HeartbeatThread | None = None
        self.watcher: ModelWatcher | None = None

    def set_state(self, state: WorkerState) -> None:
        """Record a new state in the database now, then report it on the health port."""
        if self.heartbeat is not None:
            self.heartbeat.beat(state)
        self.health.state = state

    def serve_model(self, served: Served) -> None:
        """Report the model the process serves (at start and after a switch)."""
        model, card = served.model, served.model.card
        self.health.model_id = served.model_id
        if self.health.metrics is not None:
            registered = model.source.registered_version
            served_as = (model.runtime, model.precision)
            self.health.metrics.serve_model(
                served.model_id, card.name, card.version, registered, served_as
            )
        self.health.details.update(
            model_name=card.name,
            model_version=card.version,
            registered_version=model.source.registered_version,
            runtime=model.runtime,
            precision=model.precision,
        )
        if self.heartbeat is not None:
            self.heartbeat.beat()

    def refuse_to_serve(self, exc: Exception) -> None:
        """Record why the model cannot serve, then exit before any task is taken."""
        reason = f"{type(exc).__name__}: {exc}"
        logger.critical("model unusable, worker exits: %s", reason, extra={"reason": reason})
        self.health.error = reason[:2000]
        self.set_state(WorkerState.FAILED)
        logging.shutdown()
        os._exit(EXIT_MODEL_UNUSABLE)  # Celery would log a signal handler's error and go on

    @staticmethod
    def inference_task() -> Any:
        """Return the registered inference task (its base holds the engine)."""
        return app.tasks[INFER_ITEMS]


process = WorkerProcess()


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    current = get_settings()
    configure_logging(current.log_level, json_lines=current.log_json)
    logging.captureWarnings(current.log_json)  # with JSON on, warnings are records too


@signals.worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    try:
        _load_model()
    finally:
        settle()  # TensorFlow and the model out of the collector's sight (core.heap)


def _load_model() -> None:
    dispose_engines()
    current = get_settings()
    process.heartbeat = HeartbeatThread(current, process.health)
    process.heartbeat.start()
    try:
        runtime = process.inference_task().engine.runtime
    except Exception as exc:
        process.refuse_to_serve(exc)
        return
    process.health.metrics = runtime.metrics
    process.serve_model(runtime.served)
    if runtime.served.model.source.follows_alias and current.model_poll_seconds > 0:
        process.watcher = ModelWatcher(runtime, process.serve_model)
        process.watcher.start()


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
    if current.purge_interval_seconds > 0:
        process.purge = PurgeThread(current)
        process.purge.start()
    if current.embedded_webhooks:
        process.webhooks = WebhookSender(current)
        process.webhooks.start()
    settle()  # a prefork parent's start; cheap where the pool process settled already
    process.set_state(WorkerState.READY)
    logger.info("worker ready", extra={"worker_id": current.resolved_worker_id})


@signals.worker_shutting_down.connect
def _stop_draining(**_: Any) -> None:
    # Sent as the warm shutdown begins: the running batch finishes, prefetched ones go back.
    engine = process.inference_task()._engine
    if engine is not None:
        engine.runtime.stopping.set()
    if process.watcher is not None:
        process.watcher.stop()
    process.set_state(WorkerState.DRAINING)


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    process.health.state = WorkerState.STOPPED
    if process.sweeper is not None:
        process.sweeper.stop()
    if process.purge is not None:
        process.purge.stop()
    if process.webhooks is not None:
        process.webhooks.stop()
    if process.heartbeat is not None:
        process.heartbeat.stop()
