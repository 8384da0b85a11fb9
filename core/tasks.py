"""Task names and message contracts shared by the gateway (publisher) and workers (consumer).

The gateway publishes by name, so it never imports worker code or TensorFlow.
"""

from __future__ import annotations

INFER_ITEMS = "worker.tasks.infer_items"
SWEEP = "worker.tasks.sweep"

#: Queue the inference tasks travel on.
INFERENCE_QUEUE = "inference"


def chunk_ids(ids: list[str], size: int) -> list[list[str]]:
    """Split item IDs into task-sized chunks of at most `size`."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]
