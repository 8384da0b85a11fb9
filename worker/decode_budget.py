"""The bytes a worker's decode threads may hold at once (`INFERQ_MAX_DECODE_BYTES`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class DecodeBudget:
    """Bytes that decoding threads hold together; a decode waits until its share is free.

    A decode that alone needs more than the whole budget waits until nothing else is held,
    then runs alone: every image under the pixel limit decodes, one at a time if it must.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        """Hold `nbytes` of the budget (all of it, if more) while the caller decodes."""
        share = min(nbytes, self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self.held + share <= self.limit)
            self.held += share
        try:
            yield
        finally:
            with self._changed:
                self.held -= share
                self._changed.notify_all()
