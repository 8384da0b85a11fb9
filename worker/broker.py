"""A workaround that keeps a worker alive when its Redis connection is lost.

Celery 5.7's consumer, on losing the broker, first collects the connection (which drops the
transport's client) and then closes it; closing the Redis channel restores its unacked
messages, which needs that client, so kombu 5.7 raises AttributeError and the worker exits
with "Unrecoverable error". Skipping that one restore is safe: the messages stay in Redis's
unacked set (restored after the visibility timeout) and the sweeper republishes their items.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def tolerate_lost_redis_client() -> None:
    """Make the Redis QoS skip restoring unacked messages once its transport is closed."""
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.QoS.restore_unacked
    if getattr(original, "_inferq_patched", False):
        return

    def restore_unacked(self: Any, client: Any = None) -> Any:
        if client is None and getattr(self.channel.connection, "client", None) is None:
            logger.warning(
                "broker connection lost; %d unacknowledged messages are left to the "
                "visibility timeout and the sweeper",
                len(self._delivered),
            )
            self._delivered.clear()
            return None
        return original(self, client)

    restore_unacked._inferq_patched = True  # type: ignore[attr-defined]
    setattr(kombu_redis.QoS, "restore_unacked", restore_unacked)  # noqa: B010
