"""Follow a moved registry alias without a restart.

A worker serving `models:/name@alias` asks the registry every `model_poll_seconds` which
version the alias names. When it moved, the new version is loaded beside the one serving,
smoke-checked and recorded; then `runtime.served` is replaced. Batches already decoded
finish on the model they were decoded for, so no item is lost or run twice; the old model
is freed once the last of them is done. A version that fails to load or fails its smoke
check is refused (once) and the worker keeps serving what it had.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.heap import release, settle
from worker.model_source import registered_version, registry_client
from worker.runtime import Runtime
from worker.serving import Served, load_served

logger = logging.getLogger(__name__)


class ModelWatcher(threading.Thread):
    """Polls the alias of the served model and switches to the version it names."""

    def __init__(self, runtime: Runtime, on_switch: Callable[[Served], None]) -> None:
        super().__init__(name="inferq-model-watch", daemon=True)
        self.runtime = runtime
        self.on_switch = on_switch
        self.refused: set[str] = set()
        self._stopped = threading.Event()
        self.settle_pending = False

    def run(self) -> None:
        while not self._stopped.wait(self.runtime.settings.model_poll_seconds):
            if self.settle_pending:  # the replaced model's last batch is long done
                self.settle_pending = False
                settle()
            try:
                self.check()
            except Exception:
                logger.exception("model alias check failed")

    def stop(self) -> None:
        """Stop polling."""
        self._stopped.set()

    def check(self) -> bool:
        """Switch to the version the alias names now, if it moved; return whether it did."""
        source = self.runtime.served.model.source
        _, version = registered_version(source.uri, registry_client())
        if version == source.registered_version or version in self.refused:
            return False
        try:
            served = load_served(source.uri, self.runtime.settings)
        except Exception as exc:
            self.refused.add(version)
            logger.error(
                "refused model %s version %s: %s; still serving %s",
                source.uri,
                version,
                exc,
                self.runtime.served.label,
                extra={"refused_version": version, "reason": str(exc)},
            )
            return False
        previous = self.runtime.served
        self.runtime.served = served
        self.on_switch(served)
        logger.info("switched model from %s to %s", previous.label, served.label)
        del previous
        # Keras models hold reference cycles, and the old one was frozen out of the collector
        # at the start (core.heap): hand it back and free its memory now. A batch read ahead
        # may still hold it, so the heap settles again at the next poll, once it is done.
        release()
        self.settle_pending = True
        return True
