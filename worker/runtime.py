"""What one worker process holds once it has started: the model, the blob store, the pools.

It is built in `worker_process_init` (worker.celery_app), after any fork, so TensorFlow,
database engines and threads all belong to the process that uses them.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.completion import CompletionAnnouncer, signal_url
from core.drain_mark import DrainMark
from core.settings import Settings
from core.storage import BlobStore
from worker.decode_budget import DecodeBudget
from worker.metrics import WorkerMetrics
from worker.model_holder import LoadedModel, usable_cpus
from worker.serving import Served, load_served, record_served
from worker.smoke import smoke_check


class RecentClaims:
    """Item IDs this process claimed lately, so the wake-ups that carry them cost no query.

    A wake-up whose items another batch of this process already took is the common case
    under one-image load (one task per request, one batch for many). Items handed back
    are forgotten, so their redelivered tasks claim them again.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._capacity = capacity

    def add(self, item_ids: Iterable[uuid.UUID]) -> None:
        """Remember items this process claimed."""
        for item_id in item_ids:
            self._ids[item_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def discard(self, item_ids: Iterable[uuid.UUID]) -> None:
        """Forget items handed back to the queue."""
        for item_id in item_ids:
            self._ids.pop(item_id, None)

    def covers(self, item_ids: list[uuid.UUID]) -> bool:
        """Whether every one of these items was claimed here already."""
        return bool(item_ids) and all(item_id in self._ids for item_id in item_ids)


@dataclass
class Runtime:
    """A worker process's model, storage, decode threads and budget, completion signal and
    drain mark (core.drain_mark).

    `served` is replaced whole when the worker switches models (worker.model_watch); a
    batch reads it once, when it is decoded, and keeps that model to the end.
    """

    settings: Settings
    served: Served
    store: BlobStore
    worker_id: str
    decoders: ThreadPoolExecutor
    decode_budget: DecodeBudget
    announcer: CompletionAnnouncer
    drain_mark: DrainMark
    stopping: threading.Event = field(default_factory=threading.Event)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    recent: RecentClaims = field(default_factory=RecentClaims)


def decode_thread_count(settings: Settings) -> int:
    """Return the decode threads: half the CPUs by default, so the model keeps the rest."""
    return settings.decode_threads or max(1, usable_cpus() // 2)


def build_runtime(settings: Settings, model: LoadedModel | None = None) -> Runtime:
    """Load the model (unless given), record it, and make the process's pools.

    Raises when the model cannot be loaded or fails its smoke check: such a worker must
    never take work.
    """
    if model is None:
        served = load_served(settings.model_uri, settings)
    else:
        smoke_check(model)
        served = record_served(model, settings)
    return Runtime(
        settings=settings,
        served=served,
        store=BlobStore(settings.resolved_storage_url),
        worker_id=settings.resolved_worker_id,
        decoders=ThreadPoolExecutor(decode_thread_count(settings), "inferq-decode"),
        decode_budget=DecodeBudget(settings.max_decode_bytes),
        announcer=CompletionAnnouncer(signal_url(settings)),
        drain_mark=DrainMark(signal_url(settings), settings.resolved_database_url),
    )
