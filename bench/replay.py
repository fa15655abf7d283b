"""`python -m bench.replay HISTORY [--events N] [--times K] [--profile]`: what replaying a
remediation costs the worker.

A worker that no longer caches a remediation replays its history before it can act on a new
event (in the escalation storm, nearly every escalation). This replays a recorded history
(``tests/histories/*.json``), cut after its first ``--events`` events if given (say, up to
the escalation timer's firing), ``--times`` times with the worker's own workflow runner,
interceptors and payload converter, and prints the CPU per replay. With ``--profile`` it
also prints where the workflow activations' thread spent it (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import json
import pstats
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from canary.converter import canary_data_converter
from canary.metrics import MetricsInterceptor
from worker import WORKFLOW_RUNNER
from workflows import RemediationWorkflow

#: Replays run first and left out of the figure (imports, caches, the first activations).
WARM_UP = 20


class ProfiledExecutor(concurrent.futures.ThreadPoolExecutor):
    """The workflow activations' thread pool, each activation run under ``profile`` while
    it is enabled."""

    def __init__(self, profile: cProfile.Profile) -> None:
        super().__init__(max_workers=1)
        self.profile = profile
        self.enabled = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            if not self.enabled:
                return fn(*args, **kwargs)
            self.profile.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                self.profile.disable()

        return super().submit(run)


def histories(path: Path, events: int | None, times: int) -> list[WorkflowHistory]:
    recorded = json.loads(path.read_text())
    if events is not None:
        recorded["events"] = recorded["events"][:events]
    return [WorkflowHistory.from_json(f"replay-{i}", recorded) for i in range(times)]


async def replay_all(replayer: Replayer, items: Iterable[WorkflowHistory]) -> None:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in items:
            yield history

    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("history", type=Path)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--times", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    profile = cProfile.Profile()
    executor = ProfiledExecutor(profile)
    replayer = Replayer(
        workflows=[RemediationWorkflow],
        data_converter=canary_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=[MetricsInterceptor()],
        workflow_task_executor=executor,
    )
    await replay_all(replayer, histories(args.history, args.events, WARM_UP))
    measured = histories(args.history, args.events, args.times)
    executor.enabled = args.profile
    cpu, wall = time.process_time(), time.perf_counter()
    await replay_all(replayer, measured)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    events = len(measured[0].events)
    print(
        f"{args.history.name}, {events} events: {cpu / args.times * 1000:.2f} ms CPU per replay "
        f"({wall / args.times * 1000:.2f} ms wall, {args.times} replays)"
    )
    if args.profile:
        print("(under cProfile: the figure above includes its overhead)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    asyncio.run(main())
