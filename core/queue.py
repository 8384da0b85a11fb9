"""The Celery app shared by publishers (gateway, sweeper) and consumers (workers).

It carries configuration only; the worker registers its tasks on it. The reliability
settings live here so that every process agrees on them (DESIGN.md, reliability rules).
The broker check needs kombu alone, so a process that only checks the broker (the
gateway's readiness probe, right after its start) never imports Celery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kombu import Connection

from core.priority import Priority, queue_for
from core.settings import Settings
from core.tasks import INFER_ITEMS, INFERENCE_QUEUE, RUN_BLOCKS, TILE_SLIDE, chunk_ids

if TYPE_CHECKING:
    from celery import Celery

#: Seconds to open a broker connection: Celery's default, set on the app and used by the
#: broker check, so that both connect alike.
BROKER_CONNECT_TIMEOUT = 4.0


def _transport_options(settings: Settings) -> dict[str, Any]:
    # Redis: one BRPOP over the queues in the order the worker lists them (most urgent
    # first, core.priority), never rotated: an urgent wake-up never waits behind bulk ones.
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout_seconds,
        "queue_order_strategy": "priority",
    }
    if settings.resolved_broker_url.startswith("filesystem://"):
        folders = {
            name: settings.broker_folder / name for name in ("messages", "processed", "control")
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        options.update(
            data_folder_in=str(folders["messages"]),
            data_folder_out=str(folders["messages"]),
            processed_folder=str(folders["processed"]),
            control_folder=str(folders["control"]),
            store_processed=False,
            polling_interval=0.1,  # a folder listing is cheap; a 1 s default adds latency
        )
    return options


def make_celery(settings: Settings) -> Celery:
    """Create the Celery app with at-least-once delivery and no result backend."""
    from celery import Celery

    app = Celery("inferq", broker=settings.resolved_broker_url, set_as_current=False)
    options = _transport_options(settings)
    filesystem = settings.resolved_broker_url.startswith("filesystem://")
    # Events are extra broker messages per task (sent, received, started, succeeded): only
    # when asked for, as Flower needs, and never on the folder queue, which has no fanout.
    events = settings.task_events and not filesystem
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_default_queue=INFERENCE_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=options,
        result_backend_transport_options=options,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=BROKER_CONNECT_TIMEOUT,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_enable_remote_control=not filesystem,
        worker_send_task_events=events,
        task_send_sent_event=events,
        broker_pool_limit=4,
    )
    return app


def publish_items(
    app: Celery,
    item_ids: Sequence[str],
    batch_size: int,
    priority: Priority = Priority.NORMAL,
) -> int:
    """Publish inference tasks carrying item IDs, at most `batch_size` a task, on the
    queue of their priority."""
    chunks = chunk_ids([str(item_id) for item_id in item_ids], batch_size)
    queue = queue_for(priority)
    with app.producer_or_acquire() as producer:
        for chunk in chunks:
            app.send_task(INFER_ITEMS, args=[chunk], queue=queue, producer=producer)
    return len(chunks)


def wake_workers(app: Celery, priority: Priority = Priority.NORMAL) -> None:
    """Publish one wake-up carrying no items: the worker that takes it drains whatever
    waits (for items whose own wake-ups were skipped, core.drain_mark)."""
    with app.producer_or_acquire() as producer:
        app.send_task(INFER_ITEMS, args=[[]], queue=queue_for(priority), producer=producer)


def publish_slides(app: Celery, slide_ids: Sequence[str]) -> int:
    """Publish one tiling task per slide, on the bulk queue: slides are long work."""
    queue = queue_for(Priority.BULK)
    with app.producer_or_acquire() as producer:
        for slide_id in slide_ids:
            app.send_task(TILE_SLIDE, args=[slide_id], queue=queue, producer=producer)
    return len(slide_ids)


def wake_block_runners(app: Celery, count: int) -> int:
    """Publish `count` wake-ups for slide blocks on the bulk queue; each runs blocks while
    any waits."""
    queue = queue_for(Priority.BULK)
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task(RUN_BLOCKS, queue=queue, producer=producer)
    return count


def check_broker(settings: Settings, timeout: float = 2.0) -> None:
    """Raise if the broker cannot be reached within `timeout` seconds.

    The connection is the one the Celery app would open to publish (same URL, transport
    options and connect timeout), made with kombu directly.
    """
    connection = Connection(
        settings.resolved_broker_url,
        transport_options=_transport_options(settings),
        connect_timeout=BROKER_CONNECT_TIMEOUT,
    )
    with connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
