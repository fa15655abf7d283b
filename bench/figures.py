"""The figures, each measured for Canary and for the bare-Temporal floor in the same run.

Every end point is read from the sandbox's own recording (the time Slack or Stripe received
the call), so Canary and the floor are timed by the same clock at the same kind of event.
Three figures repeat another under a changed condition: time to alert with Slack answering
slowly, and the burst and the escalation storm with two workers on each task queue.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError

from activities.home import REFRESH_AFTER, REFRESH_EVERY
from bench.floor import FLOOR_QUEUE, FloorApproval, FloorInput
from bench.probe import (
    OWNER_EMAIL,
    OWNER_SLACK,
    Invoices,
    Stream,
    at_seconds,
    stripe_signature,
    webhook_body,
)
from bench.stack import API_TOKEN, CANARY_QUEUE, STRIPE_KEY, WEBHOOK_SECRET, BenchStack
from bench.stats import p99_by_tenth, percentile, summary
from canary.catalog.loader import DEFAULT_CATALOG
from canary.settings import Settings
from starter.intake import get_status

T = TypeVar("T")
CONCURRENCY = 64
#: The first samples of each latency series warm caches (imports, connections, the catalog)
#: in Canary and in the floor alike, and are not counted.
WARM_UP = 3
#: Every figure `python -m bench --only` can name, in the order a run measures them.
FIGURES = (
    "time_to_alert",
    "button_to_action",
    "time_to_alert_slow_slack",
    "burst",
    "burst_two_workers",
    "open_remediations",
    "open_remediations_two_workers",
)
#: How long the sandbox's Slack takes to answer every Web API call in the slow-Slack figure.
SLOW_SLACK_S = 0.2
#: After each slow-Slack sample, Slack must have had no call for this long before the next,
#: so that what a sample records is its own remediation's work: longer than a Canary worker
#: gathers Home changes before it publishes them.
SLACK_SETTLE_S = REFRESH_AFTER + 1.0
#: Before each side's first slow-Slack sample, Slack must have had no call for this long:
#: longer than a Canary worker waits between two rounds of Home publishing, so no round left
#: from earlier work (Canary's own samples, before the floor's) lands among the samples.
SLACK_SETTLE_FIRST_S = REFRESH_EVERY + 5.0
#: Two workers each cache this many workflows (Canary's CANARY_MAX_CACHED_WORKFLOWS, the
#: floor's BENCH_MAX_CACHED_WORKFLOWS); by default the bound one worker has, as a second
#: `canary worker` deployed beside the first would.
TWO_WORKERS_CACHE_ENV = "BENCH_TWO_WORKERS_CACHE"
DEFAULT_CACHE = int(Settings.model_fields["max_cached_workflows"].default)


@dataclass
class Scale:
    samples: int = 103
    burst: int = 1000
    open: int = 10_000
    #: Bursts of each, run in pairs (Canary then floor, then floor then Canary, …): one burst
    #: is one sample of a machine whose speed drifts by a third from one minute to the next.
    rounds: int = 5
    #: Time to alert with Slack slowed: each sample waits for Slack to settle first, so a
    #: sample takes seconds and there are fewer of them.
    slow_samples: int = 33

    @classmethod
    def quick(cls) -> Scale:
        return cls(samples=23, burst=100, open=300, rounds=1, slow_samples=8)

    def scaled(self, factor: float) -> Scale:
        return Scale(
            samples=max(5, round(self.samples * factor)),
            burst=max(10, round(self.burst * factor)),
            open=max(20, round(self.open * factor)),
            rounds=self.rounds,
            slow_samples=max(WARM_UP + 5, round(self.slow_samples * factor)),
        )


@dataclass
class Bench:
    stack: BenchStack
    scale: Scale
    http: httpx.AsyncClient
    temporal: Client
    log: Callable[[str], None] = print
    #: The figures this run measures (what `prepare` makes invoices for).
    figures: tuple[str, ...] = FIGURES
    #: The invoices the first figures share: time to alert's (clicked by button to action),
    #: then the burst's rounds.
    invoices: list[str] = field(default_factory=list)
    #: Invoices of their own for the figures that repeat another (their remediations must be
    #: new ones): the two-worker burst's rounds and the slow-Slack samples.
    reserved: dict[str, list[str]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    run = uuid.uuid4().hex[:6]

    def __post_init__(self) -> None:
        url = self.stack.sandbox_url
        self.posts = Stream(self.http, url, service="slack", path="/api/chat.postMessage")
        self.pays = Stream(
            self.http, url, service="stripe", method="POST", path_prefix="/v1/invoices/"
        )

    # -- helpers --------------------------------------------------------------------------

    async def gather(self, calls: Iterable[Awaitable[T]], limit: int = CONCURRENCY) -> list[T]:
        gate = asyncio.Semaphore(limit)

        async def one(call: Awaitable[T]) -> T:
            async with gate:
                return await call

        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def phase(self, name: str, body: Callable[[], Awaitable[T]]) -> T:
        before = self.stack.usage()
        started = time.monotonic()
        self.log(f"· {name}…")
        result = await body()
        after = self.stack.usage()
        self.cpu[name] = {
            part: round(after.get(part, 0.0) - before.get(part, 0.0), 2) for part in after
        }
        self.cpu[name]["wall"] = round(time.monotonic() - started, 2)
        self.stack.check()
        return result

    async def send_webhook(self, invoice: str) -> tuple[float, str]:
        body = webhook_body(self.events[invoice])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        sent = time.time()
        response = await self.http.post(
            f"{self.stack.gateway_url}/webhooks/stripe", content=body, headers=headers
        )
        response.raise_for_status()
        return sent, str(response.json()["workflow_ids"][0])

    async def start_floor(self, key: str, escalate_after: float | None = None) -> float:
        sent = time.time()
        await self.temporal.start_workflow(
            "FloorWorkflow",
            FloorInput(key=key, escalate_after_seconds=escalate_after),
            id=key,
            task_queue=FLOOR_QUEUE,
        )
        return sent

    async def wait_log(self, name: str, marker: str, timeout: float = 90) -> None:
        """Until the process running as ``name`` now (not one it replaced) logged ``marker``."""
        deadline = time.monotonic() + timeout
        while marker not in self.stack.children[name].output():
            self.stack.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} never logged {marker!r}")
            await asyncio.sleep(0.2)

    # -- preparation ------------------------------------------------------------------------

    async def prepare(self) -> None:
        shared = self.scale.samples + self.scale.burst * self.scale.rounds
        if not {"time_to_alert", "button_to_action", "burst"} & set(self.figures):
            shared = 0  # only figures with invoices of their own
        own = {
            "burst_two_workers": self.scale.burst * self.scale.rounds,
            "time_to_alert_slow_slack": self.scale.slow_samples,
        }
        own = {name: n for name, n in own.items() if name in self.figures}
        count = shared + sum(own.values())
        self.log(f"· preparing {count} declined invoices through the sandbox's Stripe API…")
        maker = Invoices(self.stack.sandbox_url, STRIPE_KEY)
        made = await asyncio.to_thread(maker.make, count)
        self.invoices, start = made[:shared], shared
        for name, n in own.items():
            self.reserved[name], start = made[start : start + n], start + n
        self.events = await asyncio.to_thread(maker.failure_events)
        missing = [i for i in made if i not in self.events]
        if missing:
            raise RuntimeError(f"no invoice.payment_failed event for {len(missing)} invoices")
        await self.posts.poll()
        await self.pays.poll()
        # The sandbox's own cost of one Slack post, to tell its share apart.
        costs = []
        for i in range(20):
            started = time.perf_counter()
            answer = await self.http.post(
                f"{self.stack.sandbox_url}/api/chat.postMessage",
                headers={"Authorization": f"Bearer {self.stack.env()['SLACK_BOT_TOKEN']}"},
                json={"channel": "C0GENERAL", "text": f"bench warm-up {i}"},
            )
            answer.raise_for_status()
            costs.append(time.perf_counter() - started)
        self.results["sandbox"] = {"slack_post_round_trip": summary(costs)}

    # -- 1. time to alert ---------------------------------------------------------------------

    async def time_to_alert(self) -> None:
        async def canary() -> list[float]:
            samples = []
            for n, invoice in enumerate(self.invoices[: self.scale.samples]):
                sent, workflow_id = await self.send_webhook(invoice)
                found = await self.posts.wait({(workflow_id, "alert")}, timeout=60)
                if n >= WARM_UP:
                    samples.append(found[(workflow_id, "alert")]["at"] - sent)
            return samples

        async def floor() -> list[float]:
            samples = []
            for i in range(self.scale.samples):
                key = f"floor-{self.run}-alert-{i}"
                sent = await self.start_floor(key)
                found = await self.posts.wait({(key, "alert")}, timeout=60)
                if i >= WARM_UP:
                    samples.append(found[(key, "alert")]["at"] - sent)
            return samples

        ours = await self.phase("time to alert (Canary)", canary)
        base = await self.phase("time to alert (floor)", floor)
        self.results["time_to_alert"] = {"canary": summary(ours), "floor": summary(base)}

    # -- 2. button to action ------------------------------------------------------------------

    async def action_started(self, workflow_id: str) -> float:
        """When Temporal started the activity a person's click asked for: the first activity
        started after the click's update was accepted (server time, same machine)."""
        history = await self.temporal.get_workflow_handle(workflow_id).fetch_history()
        accepted = False
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                accepted = True
            elif accepted and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                return float(event.event_time.ToMicroseconds()) / 1e6
        raise RuntimeError(f"{workflow_id}: no activity started after the click")

    async def click_retry(self, workflow_id: str) -> tuple[float, float]:
        """The owner clicks "Retry payment" on the remediation's alert, through the sandbox's
        Slack (which signs the request as Slack does): when it was asked and when the gateway
        was sent the click (the sandbox's clock, which is this machine's)."""
        alert = self.posts.by_subject[(workflow_id, "alert")]
        sent = time.time()
        answer = await self.http.post(
            f"{self.stack.sandbox_url}/_sandbox/slack/click",
            json={
                "user": OWNER_SLACK,
                "channel": alert["channel"],
                "ts": alert["ts"],
                "action_id": "canary:retry",
                "value": workflow_id,
            },
        )
        answer.raise_for_status()
        if answer.json()["status"] != 200:
            raise RuntimeError(f"click refused: {answer.text}")
        return sent, float(answer.json()["sent_at"])

    async def button_to_action(self) -> None:
        # The figure: the signed click received by the gateway (sent by the sandbox, which
        # says when) → the approved remediation activity started (its history event). Also
        # kept: the whole trip, from asking the sandbox to click to Stripe receiving the retry.
        end_to_end: list[float] = []

        async def canary() -> list[float]:
            samples = []
            for n, invoice in enumerate(self.invoices[: self.scale.samples]):
                workflow_id = f"payment_failed:invoice:{invoice}"
                sent, received = await self.click_retry(workflow_id)
                found = await self.pays.wait({(workflow_id, "manual-retry/1")}, timeout=60)
                # The declined retry is threaded under the alert; let it land first.
                await self.posts.wait({(workflow_id, "thread/1")}, timeout=60)
                if n >= WARM_UP:
                    started = await self.action_started(workflow_id)
                    samples.append(started - received)
                    end_to_end.append(found[(workflow_id, "manual-retry/1")]["at"] - sent)
            return samples

        async def floor() -> list[float]:
            samples = []
            for i in range(self.scale.samples):
                handle = self.temporal.get_workflow_handle(f"floor-{self.run}-alert-{i}")
                sent = time.time()
                await handle.execute_update(
                    "approve", FloorApproval(user=OWNER_SLACK), result_type=str
                )
                if i >= WARM_UP:
                    samples.append(time.time() - sent)
            return samples

        ours = await self.phase("button to action (Canary)", canary)
        base = await self.phase("button to action (floor)", floor)
        self.results["button_to_action"] = {
            "canary": summary(ours),
            "floor": summary(base),
            "canary_end_to_end": summary(end_to_end),
        }

    # -- 2b. time to alert with Slack answering slowly -------------------------------------------

    async def recorded(self, since_id: int, **filters: str) -> list[dict[str, Any]]:
        """The sandbox's recording after ``since_id`` (oldest first), filtered."""
        response = await self.http.get(
            f"{self.stack.sandbox_url}/_sandbox/requests", params={"since_id": since_id, **filters}
        )
        response.raise_for_status()
        return list(response.json())

    async def count_slack_calls(self, since_id: int = 0) -> dict[str, int]:
        """How many calls the sandbox's Slack received on each path after ``since_id``, and
        ``last_id`` (the newest call counted)."""
        response = await self.http.get(
            f"{self.stack.sandbox_url}/_sandbox/requests/count",
            params={"service": "slack", "since_id": since_id},
        )
        response.raise_for_status()
        return dict(response.json())

    async def slack_settled(
        self,
        cursor: int,
        seen: list[dict[str, Any]] | None = None,
        quiet: float = SLACK_SETTLE_S,
        timeout: float = 60,
    ) -> int:
        """Wait until the sandbox's Slack has had no call for ``quiet`` seconds (giving up
        ``timeout`` seconds later), adding the calls recorded meanwhile to ``seen``; the id of
        the newest, to read what comes after."""
        last = time.time()
        deadline = last + quiet + timeout
        while True:
            entries = await self.recorded(cursor, service="slack")
            if entries:
                cursor = max(e["id"] for e in entries)
                last = max(last, *(at_seconds(e) for e in entries))
                if seen is not None:
                    seen += entries
            if time.time() - last >= quiet:
                return cursor
            if time.time() > deadline:
                self.log(f"  Slack still busy after {timeout:.0f}s; sampling anyway")
                return cursor
            await asyncio.sleep(0.25)

    @staticmethod
    def slack_calls(
        entries: list[dict[str, Any]], sent: float, alert: dict[str, Any]
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Slack Web API calls as (method, ms after ``sent``): those answered up to and
        including the alert's post, and those after it; the alert named as such, a repeated
        method numbered (users.info#2)."""
        before: list[tuple[str, float]] = []
        after: list[tuple[str, float]] = []
        seen: dict[str, int] = {}
        for entry in entries:
            name = str(entry["path"]).removeprefix("/api/")
            if entry["id"] == alert["id"]:
                name += " (the alert)"
            else:
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name += f"#{seen[name]}"
            call = (name, round((at_seconds(entry) - sent) * 1000, 1))
            (before if entry["id"] <= alert["id"] else after).append(call)
        return before, after

    @asynccontextmanager
    async def slack_slowed(self, delay: float) -> AsyncIterator[None]:
        """Every Slack Web API call (every path under /api/) answered ``delay`` seconds late,
        until the block ends: a sandbox fault with no limit on its calls that lets each call
        through after the delay."""
        faults = f"{self.stack.sandbox_url}/_sandbox/faults"
        fault = {"service": "slack", "path": "/api/", "delay": delay, "passthrough": True}
        answer = await self.http.post(faults, json={**fault, "times": None})
        answer.raise_for_status()
        try:
            yield
        finally:
            (await self.http.delete(faults)).raise_for_status()

    async def time_to_alert_slow_slack(self) -> None:
        """Time to alert while Slack takes SLOW_SLACK_S to answer every call, with the Slack
        calls made between the webhook (the floor's start) and the alert's post: what a first
        alert waits for. Each sample starts once Slack has settled."""
        invoices = self.reserved["time_to_alert_slow_slack"]
        calls: dict[str, list[list[tuple[str, float]]]] = {
            "canary_before": [],
            "canary_after": [],
            "floor_before": [],
            "floor_after": [],
        }

        async def sampled(
            side: str, start: Callable[[int], Awaitable[tuple[float, str]]]
        ) -> list[float]:
            # Slack settles before the first sample (long enough for any Home publishing
            # left from earlier work) and after each: a sample's calls are its own
            # remediation's, up to and after its alert, or a periodic Home round's.
            samples = []
            cursor = await self.slack_settled(self.posts.cursor, quiet=SLACK_SETTLE_FIRST_S)
            for n in range(len(invoices)):
                sent, workflow_id = await start(n)
                found = await self.posts.wait({(workflow_id, "alert")}, timeout=60)
                alert = found[(workflow_id, "alert")]
                entries: list[dict[str, Any]] = []
                cursor = await self.slack_settled(cursor, entries)
                if n >= WARM_UP:
                    samples.append(alert["at"] - sent)
                    before, after = self.slack_calls(entries, sent, alert)
                    calls[f"{side}_before"].append(before)
                    calls[f"{side}_after"].append(after)
            return samples

        async def canary() -> list[float]:
            return await sampled("canary", lambda n: self.send_webhook(invoices[n]))

        async def floor() -> list[float]:
            async def start(n: int) -> tuple[float, str]:
                key = f"floor-{self.run}-slow-{n}"
                return await self.start_floor(key), key

            return await sampled("floor", start)

        async with self.slack_slowed(SLOW_SLACK_S):
            ours = await self.phase("time to alert, Slack slowed (Canary)", canary)
            base = await self.phase("time to alert, Slack slowed (floor)", floor)
        self.results["time_to_alert_slow_slack"] = {
            "slack_delay_s": SLOW_SLACK_S,
            "settle_s": SLACK_SETTLE_S,
            "settle_first_s": SLACK_SETTLE_FIRST_S,
            "canary": summary(ours),
            "floor": summary(base),
            "canary_calls_before_alert": calls_summary(calls["canary_before"]),
            "floor_calls_before_alert": calls_summary(calls["floor_before"]),
            "canary_calls_after_alert": calls_summary(calls["canary_after"]),
            "floor_calls_after_alert": calls_summary(calls["floor_after"]),
            "canary_calls_by_sample": calls["canary_before"],
        }

    # -- 3. burst -------------------------------------------------------------------------------

    async def burst(self) -> None:
        first = self.scale.samples
        invoices = self.invoices[first : first + self.scale.burst * self.scale.rounds]
        self.results["burst"] = await self.bursts("burst", invoices)

    async def burst_two_workers(self) -> None:
        """The burst with a second Canary worker on Canary's task queue and a second floor
        worker on the floor's: the same rounds, on invoices of its own."""
        async with self.two_workers() as cache:
            result = await self.bursts(
                "burst, two workers", self.reserved["burst_two_workers"], tag="2w"
            )
        self.results["burst_two_workers"] = {**result, "workers": 2, "cache_per_worker": cache}

    async def bursts(self, title: str, invoices: list[str], tag: str = "") -> dict[str, Any]:
        """``rounds`` bursts of Canary and of the floor, in pairs; the phases' CPU is kept as
        "<title> (Canary)" and "<title> (floor)"."""
        n, rounds = self.scale.burst, self.scale.rounds

        async def canary(invoices: list[str]) -> dict[str, Any]:
            _, cursor = await self.calls_since(self.posts.cursor)
            started = time.time()
            sent = await self.gather(self.send_webhook(i) for i in invoices)
            accepted = time.time()
            wanted = {(workflow_id, "alert") for _, workflow_id in sent}
            found = await self.posts.wait(wanted, timeout=max(300, n), interval=0.25)
            last = max(entry["at"] for entry in found.values())
            calls, _ = await self.calls_since(cursor)
            per_alert = [found[(wid, "alert")]["at"] - t for t, wid in sent]
            return {
                "n": n,
                "seconds": round(last - started, 2),
                "per_s": round(n / (last - started), 1),
                "accepted_in_s": round(accepted - started, 2),
                "time_to_alert": summary(per_alert),
                "sandbox_calls_per_remediation": {k: round(v / n, 1) for k, v in calls.items()},
            }

        async def floor(keys: list[str]) -> dict[str, Any]:
            started = time.time()
            sent = await self.gather(self.start_floor(key) for key in keys)
            accepted = time.time()
            found = await self.posts.wait(
                {(k, "alert") for k in keys}, timeout=max(300, n), interval=0.25
            )
            last = max(entry["at"] for entry in found.values())
            per_alert = [found[(k, "alert")]["at"] - t for k, t in zip(keys, sent, strict=True)]
            return {
                "n": n,
                "seconds": round(last - started, 2),
                "per_s": round(n / (last - started), 1),
                "accepted_in_s": round(accepted - started, 2),
                "time_to_alert": summary(per_alert),
            }

        ours: list[dict[str, Any]] = []
        base: list[dict[str, Any]] = []
        for r in range(rounds):
            mine = invoices[r * n : (r + 1) * n]
            keys = [f"floor-{self.run}-burst{tag}-{r}-{i}" for i in range(n)]
            of = f" {r + 1}/{rounds}" if rounds > 1 else ""
            ran_canary = self.phase(f"{title} (Canary){of}", partial(canary, mine))
            ran_floor = self.phase(f"{title} (floor){of}", partial(floor, keys))
            # Alternate who goes first, so a machine slowing down (or warming up) during the
            # run weighs on both alike.
            if r % 2 == 0:
                ours.append(await ran_canary)
                base.append(await ran_floor)
            else:
                base.append(await ran_floor)
                ours.append(await ran_canary)
        if rounds > 1:
            for name in (f"{title} (Canary)", f"{title} (floor)"):
                parts = [self.cpu.pop(f"{name} {r + 1}/{rounds}") for r in range(rounds)]
                self.cpu[name] = {
                    part: round(sum(p.get(part, 0.0) for p in parts), 2) for part in parts[0]
                }
        return {
            "canary": median_round(ours),
            "floor": median_round(base),
            "rounds": rounds,
            "paired_ratios": [
                round(c["per_s"] / f["per_s"], 2) for c, f in zip(ours, base, strict=True)
            ],
        }

    @asynccontextmanager
    async def two_workers(self, fresh: bool = False, **env: str) -> AsyncIterator[int]:
        """A second Canary worker (``worker2``) and a second floor worker (``floor2``) for the
        block, each of the four with the same cache bound (yielded): one worker's bound unless
        BENCH_TWO_WORKERS_CACHE says otherwise, and Canary's with ``env``. A first worker is
        restarted when its settings would differ, or ``fresh``; the second ones stop when the
        block ends, and a restarted first one is restarted again as the other figures run it."""
        cache = int(os.environ.get(TWO_WORKERS_CACHE_ENV) or DEFAULT_CACHE)
        canary_env = {**env, "CANARY_MAX_CACHED_WORKFLOWS": str(cache)}
        floor_env = {"BENCH_MAX_CACHED_WORKFLOWS": str(cache)}
        one_worker_cache = int(os.environ.get("BENCH_MAX_CACHED_WORKFLOWS") or DEFAULT_CACHE)
        started = ["worker2", "floor2"]
        if fresh or env or cache != DEFAULT_CACHE:
            started.append("worker")
        if fresh or cache != one_worker_cache:
            started.append("floor")
        try:
            for name in started:
                self.stack.restart(name, **(canary_env if name.startswith("worker") else floor_env))
            for name in started:
                marker = (
                    "polling task queue" if name.startswith("worker") else "floor worker polling"
                )
                await self.wait_log(name, marker)
            yield cache
        finally:
            self.stack.stop("worker2")
            self.stack.stop("floor2")
            # The first workers back as the one-worker figures run them.
            for name in started:
                if name in ("worker", "floor"):
                    self.stack.restart(name)

    async def calls_since(self, cursor: int) -> tuple[dict[str, int], int]:
        """Calls each sandbox service received after ``cursor``, and the newest id."""
        response = await self.http.get(
            f"{self.stack.sandbox_url}/_sandbox/requests", params={"since_id": cursor}
        )
        response.raise_for_status()
        counts: dict[str, int] = {}
        for entry in response.json():
            counts[entry["service"]] = counts.get(entry["service"], 0) + 1
            cursor = max(cursor, entry["id"])
        return counts, cursor

    # -- 4. open remediations -------------------------------------------------------------------

    def escalation_catalog(self, after_seconds: int) -> Path:
        """The default catalog with the unknown-error SOP escalating after ``after_seconds``
        (instead of a day), so its timers fall due within the run. Nothing else changes."""
        data = yaml.safe_load(DEFAULT_CATALOG.read_text())
        for sop in data["sops"]:
            if sop["type"] == "unknown":
                sop["escalation"] = [
                    {
                        "after": f"PT{after_seconds}S",
                        "target": "escalation_channel",
                        "message": "This unrecognised error has waited {waited} for someone.",
                    }
                ]
        data["version"] = f"{data['version']}-bench-{after_seconds}s"
        path = self.stack.run_dir / f"catalog-bench-{after_seconds}s.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    async def watch_memory(self, name: str, stop: asyncio.Event, seen: list[float]) -> None:
        while not stop.is_set():
            child = self.stack.children.get(name)
            if child is not None:
                seen.append(child.memory_mb()[0])
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def fresh_server(self) -> None:
        """Each storm on a dev server of its own (``BenchStack.fresh_temporal``), this
        process's client connected to it and the workers polling it."""
        self.log("· a fresh Temporal dev server for the storm…")
        await asyncio.to_thread(self.stack.fresh_temporal)
        self.temporal = await Client.connect(
            self.stack.temporal_address, data_converter=self.temporal.data_converter
        )
        for name in self.stack.children:
            if name.startswith("worker"):
                await self.wait_log(name, "polling task queue")
            elif name.startswith("floor"):
                await self.wait_log(name, "floor worker polling")

    async def open_remediations(self) -> None:
        await self.fresh_server()
        self.results["open_remediations"] = await self.escalation_storm(
            "open remediations", ["worker"], ["floor"], rates=self.results.get("burst", {})
        )

    async def open_remediations_two_workers(self) -> None:
        """The escalation storm with two Canary workers on Canary's task queue and two floor
        workers on the floor's; its remediations are new ones (a subject prefix of its own)."""
        rates = self.results.get("burst_two_workers") or self.results.get("burst", {})
        await self.fresh_server()
        # The catalog reaches both Canary workers through two_workers' environment.
        catalog = self.escalation_catalog(self.escalate_after(rates))
        async with self.two_workers(fresh=True, CANARY_CATALOG=str(catalog)) as cache:
            result = await self.escalation_storm(
                "open remediations, two workers",
                ["worker", "worker2"],
                ["floor", "floor2"],
                rates=rates,
                tag="2w",
                restart=False,
            )
        self.results["open_remediations_two_workers"] = {
            **result,
            "workers": 2,
            "cache_per_worker": cache,
        }

    def escalate_after(self, rates: dict[str, Any]) -> int:
        """Seconds after which Canary's escalations fall due: half as long again as opening
        them all is expected to take at the burst's rate, and a margin. Without a burst in
        the run, the rate Canary's intake reaches on two cores at 10,000 (about 15/s): a storm
        that overlaps its own intake measures the intake too (see ``overlapped``). The floor
        follows Canary's timeline (``escalation_storm``), so its wait is set from Canary's
        intake once that is known."""
        canary_rate = rates.get("canary", {}).get("per_s") or 15.0
        return math.ceil(self.scale.open / canary_rate * 1.5 + 30)

    async def escalation_storm(
        self,
        title: str,
        workers: list[str],
        floors: list[str],
        rates: dict[str, Any],
        tag: str = "",
        restart: bool = True,
    ) -> dict[str, Any]:
        """``open`` remediations waiting on people, whose escalations then fall due at the
        rate they were opened, on ``workers`` (Canary) and ``floors`` (the floor); with
        ``restart`` the workers are restarted first (Canary's with the bench catalog).

        Canary opens its remediations as fast as its intake goes; the floor then opens its
        own on Canary's timeline (the i-th when Canary's i-th alert was posted, counted from
        the intake's start), so both sides' escalations fall due at the same pace and the
        two storms are as intense as each other. Left to its own pace the floor opens about
        twice as fast, and its storm, twice as dense, is not the one Canary met."""
        n = self.scale.open
        canary_after = self.escalate_after(rates)
        prefix = f"{self.run}{tag}"

        async def started(names: list[str], marker: str, **env: str) -> None:
            if restart:
                for name in names:
                    self.stack.restart(name, **env)
            for name in names:
                await self.wait_log(name, marker)

        Watched = list[tuple[list[float], asyncio.Task[None]]]

        def memory(names: list[str], stop: asyncio.Event) -> Watched:
            seen: Watched = []
            for name in names:
                found: list[float] = []
                seen.append((found, asyncio.create_task(self.watch_memory(name, stop, found))))
            return seen

        def overlapped(side: str, intake: float, after: int) -> dict[str, bool]:
            """Whether escalations fell due before the last remediation was open (then that
            side's storm competes with its own intake, and its lateness is not comparable)."""
            if intake <= after:
                return {}
            self.log(
                f"  ! {side}: opening took {intake:.0f}s, longer than the {after}s after which "
                "escalations fall due: its storm overlapped its intake"
            )
            return {"overlapped_intake": True}

        def cache_counts(names: list[str]) -> dict[str, int]:
            """The workers' workflow cache counters (hits, misses, evictions), summed."""
            total: dict[str, int] = {}
            for name in names:
                for key, value in self.stack.children[name].workflow_cache().items():
                    total[key] = total.get(key, 0) + value
            return total

        def cache_since(names: list[str], before: dict[str, int]) -> dict[str, dict[str, int]]:
            """What the workers' workflow caches did while the escalations were posted: a
            miss is a remediation replayed from its history first."""
            now = cache_counts(names)
            if not now:
                return {}
            return {"workflow_cache": {k: v - before.get(k, 0) for k, v in now.items()}}

        def rss(names: list[str]) -> list[float]:
            return [round(self.stack.children[name].memory_mb()[0], 1) for name in names]

        async def peaks(names: list[str], watched: Watched) -> list[float]:
            found = []
            for name, (seen, task) in zip(names, watched, strict=True):
                await task
                _, peak = self.stack.children[name].memory_mb()
                found.append(round(max([peak, *seen]), 1))
            return found

        def intake(alerts: dict[tuple[str, str], dict[str, Any]], started_at: float) -> list[float]:
            """When each alert was posted, in seconds from the intake's start, in order."""
            return sorted(event["at"] - started_at for event in alerts.values())

        timeline: list[float] = []

        async def canary() -> dict[str, Any]:
            catalog = self.escalation_catalog(canary_after)
            await started(workers, "polling task queue", CANARY_CATALOG=str(catalog))
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            templates = [
                "Nightly export to the warehouse failed: {n} rows rejected (HTTP 503)",
                "HubSpot sync job {n} failed at step 3: 502 Bad Gateway",
                "Zap 'Enrich new leads' run {n} errored: Clearbit quota exceeded",
            ]

            async def detect(i: int) -> str:
                detection = {
                    "source": "bench-monitor",
                    "subject": {"kind": "job_run", "id": f"{prefix}-{i:05d}"},
                    "account": {"name": f"Bench Account {i % 50}", "owner_email": OWNER_EMAIL},
                    "message": random.choice(templates).format(n=i),
                    "facts": {"job": i % 17},
                }
                answer = await self.http.post(
                    f"{self.stack.gateway_url}/api/detections", json=detection, headers=auth
                )
                answer.raise_for_status()
                return str(answer.json()["workflow_id"])

            stop = asyncio.Event()
            watched = memory(workers, stop)
            started_at = time.time()
            ids = await self.gather(detect(i) for i in range(n))
            alerts = await self.posts.wait(
                {(w, "alert") for w in ids}, timeout=max(600, n / 5), interval=1.0
            )
            opened = max(e["at"] for e in alerts.values())
            timeline.extend(intake(alerts, started_at))
            open_count = await self.temporal.count_workflows(
                f"WorkflowType = 'RemediationWorkflow' AND ExecutionStatus = 'Running' "
                f"AND CanarySubject STARTS_WITH 'job_run:{prefix}-'"
            )
            rss_open = rss(workers)
            due_by = started_at + canary_after + (opened - started_at)
            self.log(
                f"  {n} open after {opened - started_at:.0f}s "
                f"(RSS {' + '.join(f'{m:.0f}' for m in rss_open)} MB); "
                f"escalations due within {due_by - time.time():.0f}s"
            )
            before, cached = self.stack.usage(), cache_counts(workers)
            slack_before = await self.count_slack_calls()
            escalations = await self.wait_escalations(ids, due_by)
            escalating = cpu_since(before, self.stack.usage())
            caching = cache_since(workers, cached)
            slack_calls = await self.count_slack_calls(slack_before["last_id"])
            stop.set()
            peak = await peaks(workers, watched)
            posted = [w for w in ids if (w, "escalation/1") in escalations]
            due = [alerts[(w, "alert")]["at"] + canary_after for w in posted]
            lateness = [
                escalations[(w, "escalation/1")]["at"] - at
                for w, at in zip(posted, due, strict=True)
            ]
            sample = random.sample(ids, min(200, n))
            timer_lateness = await self.timer_lateness(sample, canary_after)
            fired_lateness, retried_tasks = await self.timer_fired_lateness(sample, canary_after)
            escalated = await self.temporal.count_workflows(
                f"CanaryEscalationLevel >= 1 AND CanarySubject STARTS_WITH 'job_run:{prefix}-'"
            )
            return {
                "n": n,
                "open_at_once": open_count.count,
                "intake_seconds": round(opened - started_at, 1),
                "intake_per_s": round(n / (opened - started_at), 1),
                "escalate_after_s": canary_after,
                **overlapped("Canary", opened - started_at, canary_after),
                # One worker: its RSS; several: the largest, each one's beside it.
                "rss_mb_all_open": max(rss_open),
                "peak_rss_mb": max(peak),
                **(
                    {"rss_mb_per_worker": rss_open, "peak_rss_mb_per_worker": peak}
                    if len(workers) > 1
                    else {}
                ),
                "escalated": escalated.count,
                "escalations_posted": len(lateness),
                # A timer lost never fires: the remediation never reached escalation level 1.
                # One that fired but whose Slack post had not arrived when the bench stopped
                # waiting is late, not lost.
                "lost": n - escalated.count,
                "unposted_when_stopped": n - len(lateness),
                "due_to_escalation_posted_s": seconds_summary(lateness),
                "p99_by_tenth_of_the_storm_s": p99_by_tenth(due, lateness),
                "cpu_s_escalating": escalating,
                "slack_calls_escalating": slack_calls,
                **caching,
                "timer_lateness_s_sample": seconds_summary(timer_lateness),
                "timer_fired_lateness_s_sample": seconds_summary(fired_lateness),
                "workflow_tasks_retried_sample": retried_tasks,
            }

        async def floor() -> dict[str, Any]:
            await started(floors, "floor worker polling")
            keys = [f"floor-{self.run}-open{tag}-{i}" for i in range(n)]
            # Its escalations fall due as soon after its intake as Canary's did after its own.
            floor_after = math.ceil(timeline[-1]) + 15
            stop = asyncio.Event()
            watched = memory(floors, stop)
            started_at = time.time()

            async def on_canary_timeline(key: str, at: float) -> None:
                await asyncio.sleep(max(0.0, started_at + at - time.time()))
                await self.start_floor(key, floor_after)

            await asyncio.gather(*map(on_canary_timeline, keys, timeline))
            alerts = await self.posts.wait(
                {(k, "alert") for k in keys}, timeout=max(600, n / 5), interval=1.0
            )
            opened = max(e["at"] for e in alerts.values())
            # How far the floor's alerts strayed from Canary's timeline (it runs late when the
            # floor cannot keep Canary's pace; then its storm is the sparser one).
            behind = [
                mine - theirs
                for mine, theirs in zip(intake(alerts, started_at), timeline, strict=True)
            ]
            rss_open = rss(floors)
            due_by = started_at + floor_after + (opened - started_at)
            before, cached = self.stack.usage(), cache_counts(floors)
            slack_before = await self.count_slack_calls()
            escalations = await self.wait_escalations(keys, due_by)
            escalating = cpu_since(before, self.stack.usage())
            caching = cache_since(floors, cached)
            slack_calls = await self.count_slack_calls(slack_before["last_id"])
            stop.set()
            peak = await peaks(floors, watched)
            posted = [k for k in keys if (k, "escalation/1") in escalations]
            due = [alerts[(k, "alert")]["at"] + floor_after for k in posted]
            lateness = [
                escalations[(k, "escalation/1")]["at"] - at
                for k, at in zip(posted, due, strict=True)
            ]
            return {
                "n": n,
                "intake_seconds": round(opened - started_at, 1),
                "intake_per_s": round(n / (opened - started_at), 1),
                "behind_canary_timeline_s": seconds_summary(behind),
                "escalate_after_s": floor_after,
                **overlapped("floor", opened - started_at, floor_after),
                "rss_mb_all_open": max(rss_open),
                "peak_rss_mb": max(peak),
                **(
                    {"rss_mb_per_worker": rss_open, "peak_rss_mb_per_worker": peak}
                    if len(floors) > 1
                    else {}
                ),
                "escalations_posted": len(lateness),
                # The floor has no escalation level to read: a missing post counts as lost.
                "lost": n - len(lateness),
                "unposted_when_stopped": n - len(lateness),
                "due_to_escalation_posted_s": seconds_summary(lateness),
                "p99_by_tenth_of_the_storm_s": p99_by_tenth(due, lateness),
                "cpu_s_escalating": escalating,
                "slack_calls_escalating": slack_calls,
                **caching,
            }

        ours = await self.phase(f"{title} (Canary)", canary)
        base = await self.phase(f"{title} (floor)", floor)
        return {"canary": ours, "floor": base}

    async def wait_escalations(
        self, ids: list[str], due_by: float
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Every escalation post, or what arrived by ten minutes after the last due."""
        wanted = {(w, "escalation/1") for w in ids}
        try:
            return await self.posts.wait(
                wanted, timeout=max(60, due_by - time.time() + 600), interval=1.0
            )
        except TimeoutError:
            return {k: self.posts.by_subject[k] for k in wanted if k in self.posts.by_subject}

    async def timer_lateness(self, ids: list[str], after: int) -> list[float]:
        """The workflow's own view, from a sample of timelines: when the escalation timer's
        task ran, against the moment the wait began (the 'notified' entry) plus the ladder."""
        found = []
        for workflow_id in ids:
            try:
                status = await get_status(self.temporal, workflow_id)
            except RPCError as err:
                # A worker still busy with the storm may not answer a query in time: this
                # sample is left out (the server's view below needs no worker).
                self.log(f"  no status from {workflow_id} ({err}); left out of the sample")
                continue
            if status is None:
                continue
            notified = next((e.at for e in status.timeline if e.kind == "notified"), None)
            escalated = next(
                (
                    e.at
                    for e in status.timeline
                    if e.kind == "state" and e.text.endswith("escalated")
                ),
                None,
            )
            if notified and escalated:
                found.append((escalated - notified).total_seconds() - after)
        return found

    async def timer_fired_lateness(
        self, ids: list[str], after: int
    ) -> tuple[list[float], dict[str, int]]:
        """The Temporal server's view, from a sample of histories: when the escalation timer
        fired (its TimerFired event) against when it was due (TimerStarted + its duration),
        whatever the worker did next; and how many of the sample's workflow tasks had to be
        tried again (timed out or failed), in how many of the histories, and why. A task
        that timed out after a worker took it (``start_to_close``) is done again, its local
        activities too; one that waited too long on a worker's sticky queue
        (``schedule_to_start``) is moved to the shared queue and waits again."""
        found = []
        retried = {"histories": len(ids), "timed_out": 0, "failed": 0, "in_histories": 0}
        again = {
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "timed_out",
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "failed",
        }
        for workflow_id in ids:
            history = await self.temporal.get_workflow_handle(workflow_id).fetch_history()
            due: dict[str, float] = {}
            tried_again = False
            for event in history.events:
                at = event.event_time.ToMicroseconds() / 1e6
                if event.event_type in again:
                    retried[again[event.event_type]] += 1
                    why = why_tried_again(event)
                    retried[why] = retried.get(why, 0) + 1
                    tried_again = True
                elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                    started = event.timer_started_event_attributes
                    if started.start_to_fire_timeout.seconds == after:
                        due[started.timer_id] = at + after
                elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                    timer = event.timer_fired_event_attributes.timer_id
                    if timer in due:
                        found.append(at - due[timer])
            retried["in_histories"] += tried_again
        return found, retried


def why_tried_again(event: HistoryEvent) -> str:
    """A workflow task's timeout or failure, as ``timed out: <kind>`` or ``failed: <cause>``."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        kind = TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type)
        return f"timed out: {kind.removeprefix('TIMEOUT_TYPE_').lower()}"
    cause = WorkflowTaskFailedCause.Name(event.workflow_task_failed_event_attributes.cause)
    return f"failed: {cause.removeprefix('WORKFLOW_TASK_FAILED_CAUSE_').lower()}"


def cpu_since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each bench child spent between two readings of ``BenchStack.usage``: the
    storm's escalations alone, from just before the first falls due to the last one posted
    (waiting for them to fall due costs next to nothing)."""
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


def seconds_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


def calls_summary(samples: list[list[tuple[str, float]]]) -> list[dict[str, Any]]:
    """Each call made before the alert: in how many samples, and its median ms after the
    webhook; in order of that median."""
    at: dict[str, list[float]] = {}
    for calls in samples:
        for name, ms in calls:
            at.setdefault(name, []).append(ms)
    found = [
        {
            "call": name,
            "samples": len(times),
            "of": len(samples),
            "median_ms": statistics.median(times),
        }
        for name, times in at.items()
    ]
    return sorted(found, key=lambda call: call["median_ms"])


def median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose rate is the median, with every round's rate beside it."""
    ranked = sorted(runs, key=lambda run: run["per_s"])
    middle = dict(ranked[(len(ranked) - 1) // 2])
    middle["per_s_rounds"] = [run["per_s"] for run in runs]
    return middle


__all__ = ["Bench", "Scale", "CANARY_QUEUE"]
