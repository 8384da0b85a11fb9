"""The collector's settling: what loading made is frozen, its garbage is not kept."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a process of its own: freezing pytest's own heap would outlive the test.
SETTLE = """
import gc, json, weakref
from core.heap import pause_collection, settle

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

pause_collection()
loaded = cycle()                      # what the process serves with
garbage = weakref.ref(cycle())        # unreachable once made: loading's leftovers
paused = gc.isenabled()
settle()
kept = gc.get_freeze_count()
left_over = garbage() is not None
replaced = weakref.ref(loaded)
del loaded                            # a model replaced by another: frozen, unreachable
gc.collect()
held_while_frozen = replaced() is not None
settle(release_frozen=True)
print(json.dumps([paused, gc.isenabled(), kept, left_over, held_while_frozen,
                  replaced() is not None, len(gc.get_objects())]))
"""


def test_settle_freezes_what_is_alive_and_keeps_no_garbage() -> None:
    result = subprocess.run([sys.executable, "-c", SETTLE], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    paused, enabled, kept, left_over, held, still_held, unfrozen = json.loads(result.stdout)
    assert not paused and enabled
    assert kept > 1000  # the interpreter's and the modules' objects, frozen
    assert not left_over  # collected before the freeze, not kept for good
    assert held  # a frozen object is never collected...
    assert not still_held  # ...until the frozen set is handed back and collected
    assert unfrozen < kept / 10  # and the next full collection walks a small part
