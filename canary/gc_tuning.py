"""How a worker's Python heap is collected.

A worker keeps up to ``CANARY_MAX_CACHED_WORKFLOWS`` remediations in memory, about three
hundred objects each that the collector tracks (a pydantic model is three: itself, its dict
and its set of fields), beside the hundred thousand its imports made. CPython's default
collector collects the young generation every 700 allocations, and walks the whole heap
whenever its oldest generation grew by a quarter: a worker opening 3,000 remediations with
1,000 cached ran 13 full collections of about 300 ms each (no workflow task runs meanwhile),
4 to 5 seconds in all.

So a worker, once it is set up, moves what exists to the permanent generation (nothing it
made at start is ever garbage: no collection walks it again) and collects the young generation
every :data:`YOUNG_COLLECTION_AFTER` allocations: most of what a workflow activation makes
(tasks, futures, the payloads' models) is garbage by then and is freed young. The oldest
generation is looked at after every second collection of the middle one, so a remediation
evicted from the cache (a cycle of objects, freed only by a full collection) is not kept
much longer than with the defaults. The same 3,000: 4 to 5 full collections, 2.2 to 2.7 s,
and 12 % more resident memory at the end; looking at the oldest generation as rarely as the
defaults' ratios would (every tenth) ran none, took 0.8 s and held 70 % more.
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) between two collections of the young generation.
YOUNG_COLLECTION_AFTER = 10_000
#: Young collections between two of the middle generation (the CPython default).
MIDDLE_COLLECTION_AFTER = 10
#: Middle collections after which the oldest generation is collected, if it grew by a quarter.
OLDEST_COLLECTION_AFTER = 1


def tune_for_long_lived_heap() -> int:
    """Collect what is garbage now, freeze the rest, and space out the collections to come;
    the number of objects frozen.

    Called once, by a worker that is set up and about to poll (tests and the gateway keep
    the defaults)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, MIDDLE_COLLECTION_AFTER, OLDEST_COLLECTION_AFTER)
    return gc.get_freeze_count()
