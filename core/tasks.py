"""Task names and message contracts shared by the gateway (publisher) and workers (consumer).

The gateway publishes by name, so it never imports worker code or TensorFlow.
"""

from __future__ import annotations

INFER_ITEMS = "worker.tasks.infer_items"
SWEEP = "worker.tasks.sweep"
TILE_SLIDE = "worker.tasks.tile_slide"  # args: [slide_id]; then wakes RUN_BLOCKS
RUN_BLOCKS = "worker.tasks.run_blocks"  # no args: run waiting slide blocks of any slide

#: Queue of normal-priority wake-ups, and Celery's default (core.priority names them all).
INFERENCE_QUEUE = "inference"


def chunk_ids(ids: list[str], size: int) -> list[list[str]]:
    """Split item IDs into the fewest chunks of at most `size`, as even as possible.

    Even chunks keep every model call near full: 200 items at size 64 become 50+50+50+50,
    not 64+64+64+8.
    """
    if not ids:
        return []
    count = -(-len(ids) // size)
    share, extra = divmod(len(ids), count)
    chunks, start = [], 0
    for index in range(count):
        end = start + share + (index < extra)
        chunks.append(ids[start:end])
        start = end
    return chunks
