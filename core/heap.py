"""The cyclic garbage collector in the long-running processes (gateway and worker).

A full collection walks every object the process tracks and holds the GIL while it does, so
every thread of the process waits: with the web stack and its drivers loaded, 25-50 ms in
the gateway (a `/healthz` answer waits that long); with TensorFlow and a model, 130-250 ms
in the worker, a few times over while it starts. What a process loads in order to serve
(modules, the app, the model) lives as long as the process does, so once it is loaded it
is frozen out of the collector's sight (`gc.freeze`): later collections walk only what
requests and batches make. Cyclic garbage made before the freeze is collected first, so
nothing already unreachable is kept for good; what is still in use when it freezes (a
request or batch in flight) stays until the frozen set is handed back.
"""

from __future__ import annotations

import gc


def pause_collection() -> None:
    """Collect nothing while the process loads what it serves with (see `settle`)."""
    gc.disable()


def freeze_without_collecting() -> None:
    """Freeze what loaded so far and collect again from then on, with no full collection
    now: for a start that must be quick. Garbage frozen with it waits for the next
    `settle(release_frozen=True)`."""
    gc.freeze()
    gc.enable()


def release() -> None:
    """Hand back what was frozen and collect it now, freezing nothing: for when something
    frozen was let go of (a model replaced by another) while work may still hold it. Call
    `settle` once that work is done."""
    gc.unfreeze()
    gc.collect()


def settle(*, release_frozen: bool = False) -> None:
    """Collect what loading left behind, freeze everything still alive, collect again from
    then on.

    `release_frozen` first hands back what was frozen, so garbage frozen by an earlier
    `freeze_without_collecting` (the gateway's quick start) is collected too: a frozen
    object is never collected otherwise.
    """
    if release_frozen:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.enable()
