"""`python -m bench.collector [--open N] [--cache C] [--setting S]`: what Python's garbage
collector costs a worker that caches remediations, and what it leaves in memory.

One process: a Temporal dev server, and Canary's remediation workflow on a worker with the
tests' fake activities (no sandbox, no Slack: the worker's own heap only), caching ``C``
workflows. It opens ``N`` remediations that each alert and wait on people, and prints the
time the collector ran (``gc.callbacks``), its collections by generation, the process's CPU,
and its RSS at the end without a forced collection (what the evicted remediations' cycles
still hold). ``--setting`` is ``default`` (CPython's thresholds), ``tuned``
(:func:`canary.gc_tuning.tune_for_long_lived_heap`, as the worker runs) or three thresholds
``T0,T1,T2`` applied after a freeze.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.converter import canary_data_converter
from canary.gc_tuning import tune_for_long_lived_heap
from canary.models import Detection
from canary.settings import Settings
from starter.intake import submit_detection
from starter.stack import temporal_binary
from tests.fakes import FakeServices
from tests.helpers import eventually
from worker import WORKFLOW_RUNNER
from workflows import RemediationWorkflow

QUEUE = "bench-collector"
#: Remediations opened at once (as a burst of webhooks would).
IN_FLIGHT = 40


class CollectorClock:
    """The collector's time and collections per generation, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.collections[info["generation"]] += 1


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def detection(i: int, prefix: str) -> Detection:
    return Detection.model_validate(
        {
            "source": "bench-monitor",
            "subject": {"kind": "job_run", "id": f"{prefix}-{i:05d}"},
            "account": {"name": f"Bench Account {i % 50}", "owner_email": "alice@acme.example"},
            "message": f"HubSpot sync job {i} failed at step 3: 502 Bad Gateway",
            "facts": {"job": i % 17},
        }
    )


def apply(setting: str) -> None:
    if setting == "tuned":
        tune_for_long_lived_heap()
    elif setting != "default":
        young, middle, oldest = (int(t) for t in setting.split(","))
        gc.collect()
        gc.freeze()
        gc.set_threshold(young, middle, oldest)


async def measure(opened: int, cache: int, setting: str) -> str:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=canary_data_converter
    )
    settings = Settings(_env_file=None, task_queue=QUEUE)  # type: ignore[call-arg]
    fake = FakeServices()
    clock = CollectorClock()
    try:
        async with Worker(
            env.client,
            task_queue=QUEUE,
            workflows=[RemediationWorkflow],
            activities=fake.all(),
            workflow_runner=WORKFLOW_RUNNER,
            max_cached_workflows=cache,
        ):

            async def submit(i: int, prefix: str) -> None:
                await submit_detection(
                    env.client, detection(i, prefix), settings, search_attributes=False
                )

            async def alerted(count: int) -> None:
                await eventually(
                    lambda: asyncio.sleep(0, len(fake.posts)), lambda n: n >= count, timeout=600
                )

            # A few first, so imports and first-use caches are made before the count starts.
            for i in range(20):
                await submit(i, "warm")
            await alerted(20)
            apply(setting)
            gc.callbacks.append(clock)
            rss_before, cpu_before = rss_mb(), time.process_time()
            limit = asyncio.Semaphore(IN_FLIGHT)

            async def open_one(i: int) -> None:
                async with limit:
                    await submit(i, "open")

            await asyncio.gather(*(open_one(i) for i in range(opened)))
            await alerted(opened + 20)
            rss, cpu = rss_mb(), time.process_time() - cpu_before
            gc.callbacks.remove(clock)
    finally:
        await env.shutdown()
    return (
        f"{setting}: {opened} opened, {cache} cached: collector {clock.seconds:.2f} s "
        f"(collections by generation {clock.collections}), CPU {cpu:.1f} s, "
        f"RSS {rss:.0f} MB (+{rss - rss_before:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=3000)
    parser.add_argument("--cache", type=int, default=1000)
    parser.add_argument("--setting", default="tuned")
    args = parser.parse_args()
    print(asyncio.run(measure(args.open, args.cache, args.setting)), flush=True)
    # Leave without tearing the interpreter down: Temporal's core threads can abort it then
    # ("PyGILState_Release"), as the `canary` command and the test run also avoid.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
