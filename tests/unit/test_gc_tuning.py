"""A worker freezes the heap it starts with and collects its young generation less often,
and what it makes afterwards is still collected (a reference cycle included)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, weakref
import worker
from canary.gc_tuning import tune_for_long_lived_heap
frozen = tune_for_long_lived_heap()

class Node:
    pass

# A cycle made after the freeze, as a workflow activation makes them (a task and its future).
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
# Enough allocations for a young collection at the tuned threshold, and none forced.
kept = [[] for _ in range(gc.get_threshold()[0] * 2)]
print(json.dumps({
    "frozen": frozen,
    "freeze_count": gc.get_freeze_count(),
    "threshold": gc.get_threshold(),
    "cycle_collected": gone() is None,
}))
"""


def test_a_tuned_worker_heap_freezes_its_start_and_still_collects_new_cycles() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.splitlines()[-1])
    # The worker's modules (Temporal's SDK, pydantic's schemas, Canary's models) are frozen.
    assert found["frozen"] == found["freeze_count"] > 50_000
    assert found["threshold"] == [10_000, 10, 1]
    assert found["cycle_collected"], "a cycle made after the freeze was never collected"
