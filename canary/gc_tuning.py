"""How a worker's Python heap is collected.

A worker keeps up to ``CANARY_MAX_CACHED_WORKFLOWS`` remediations in memory, each a few
hundred objects, beside the hundred thousand its imports made (Temporal's SDK, pydantic's
schemas, the Slack, Stripe and Salesforce SDKs). CPython's default collector walks that whole
heap whenever it grows by a quarter, and collects the young generation every 700 allocations:
in a burst of a thousand detections a worker ran thirteen full collections of some 200 ms each
(no workflow task runs meanwhile) and spent 11 % of its CPU collecting.

So a worker, once it is set up, moves what exists to the permanent generation (nothing it
made at start is ever garbage: no collection walks it again) and collects the young generation
every :data:`YOUNG_COLLECTION_AFTER` allocations: most of what a workflow activation makes
(tasks, futures, the payloads' models) is garbage by then and is freed without being
promoted, and the older generations fill, and are walked, a fraction as often.
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) between two collections of the young generation.
YOUNG_COLLECTION_AFTER = 10_000
#: Young collections between two of the middle generation, and middle ones between two of the
#: oldest (the CPython defaults: the oldest is also collected only once it grew by a quarter).
OLDER_COLLECTION_AFTER = 10


def tune_for_long_lived_heap() -> int:
    """Collect what is garbage now, freeze the rest, and space out the collections to come;
    the number of objects frozen.

    Called once, by a worker that is set up and about to poll (tests and the gateway keep
    the defaults)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, OLDER_COLLECTION_AFTER, OLDER_COLLECTION_AFTER)
    return gc.get_freeze_count()
