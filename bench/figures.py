"""The four figures, each measured for Canary and for the bare-Temporal floor in the same run.

Every end point is read from the sandbox's own recording (the time Slack or Stripe received
the call), so Canary and the floor are timed by the same clock at the same kind of event.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.floor import FLOOR_QUEUE, FloorApproval, FloorInput
from bench.probe import OWNER_EMAIL, OWNER_SLACK, Invoices, Stream, stripe_signature, webhook_body
from bench.stack import API_TOKEN, CANARY_QUEUE, STRIPE_KEY, WEBHOOK_SECRET, BenchStack
from bench.stats import percentile, summary
from canary.catalog.loader import DEFAULT_CATALOG
from starter.intake import get_status

T = TypeVar("T")
CONCURRENCY = 64
#: The first samples of each latency series warm caches (imports, connections, the catalog)
#: in Canary and in the floor alike, and are not counted.
WARM_UP = 3


@dataclass
class Scale:
    samples: int = 103
    burst: int = 1000
    open: int = 10_000
    #: Bursts of each, run in pairs (Canary then floor, then floor then Canary, …): one burst
    #: is one sample of a machine whose speed drifts by a third from one minute to the next.
    rounds: int = 5

    @classmethod
    def quick(cls) -> Scale:
        return cls(samples=23, burst=100, open=300, rounds=1)

    def scaled(self, factor: float) -> Scale:
        return Scale(
            samples=max(5, round(self.samples * factor)),
            burst=max(10, round(self.burst * factor)),
            open=max(20, round(self.open * factor)),
            rounds=self.rounds,
        )


@dataclass
class Bench:
    stack: BenchStack
    scale: Scale
    http: httpx.AsyncClient
    temporal: Client
    log: Callable[[str], None] = print
    invoices: list[str] = field(default_factory=list)
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
        log = self.stack.children[name].log
        deadline = time.monotonic() + timeout
        while marker not in log.read_text(errors="replace"):
            self.stack.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} never logged {marker!r}")
            await asyncio.sleep(0.2)

    # -- preparation ------------------------------------------------------------------------

    async def prepare(self) -> None:
        count = self.scale.samples + self.scale.burst * self.scale.rounds
        self.log(f"· preparing {count} declined invoices through the sandbox's Stripe API…")
        maker = Invoices(self.stack.sandbox_url, STRIPE_KEY)
        self.invoices = await asyncio.to_thread(maker.make, count)
        self.events = await asyncio.to_thread(maker.failure_events)
        missing = [i for i in self.invoices if i not in self.events]
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

    async def button_to_action(self) -> None:
        # The figure: the signed click received by the gateway (sent by the sandbox, which
        # says when) → the approved remediation activity started (its history event). Also
        # kept: the whole trip, from asking the sandbox to click to Stripe receiving the retry.
        end_to_end: list[float] = []

        async def canary() -> list[float]:
            samples = []
            for n, invoice in enumerate(self.invoices[: self.scale.samples]):
                workflow_id = f"payment_failed:invoice:{invoice}"
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
                received = float(answer.json()["sent_at"])
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

    # -- 3. burst -------------------------------------------------------------------------------

    async def burst(self) -> None:
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
            first = self.scale.samples + r * n
            invoices = self.invoices[first : first + n]
            keys = [f"floor-{self.run}-burst-{r}-{i}" for i in range(n)]
            tag = f" {r + 1}/{rounds}" if rounds > 1 else ""
            ran_canary = self.phase(f"burst (Canary){tag}", partial(canary, invoices))
            ran_floor = self.phase(f"burst (floor){tag}", partial(floor, keys))
            # Alternate who goes first, so a machine slowing down (or warming up) during the
            # run weighs on both alike.
            if r % 2 == 0:
                ours.append(await ran_canary)
                base.append(await ran_floor)
            else:
                base.append(await ran_floor)
                ours.append(await ran_canary)
        if rounds > 1:
            for name in ("burst (Canary)", "burst (floor)"):
                parts = [self.cpu.pop(f"{name} {r + 1}/{rounds}") for r in range(rounds)]
                self.cpu[name] = {
                    part: round(sum(p.get(part, 0.0) for p in parts), 2) for part in parts[0]
                }
        self.results["burst"] = {
            "canary": median_round(ours),
            "floor": median_round(base),
            "rounds": rounds,
            "paired_ratios": [
                round(c["per_s"] / f["per_s"], 2) for c, f in zip(ours, base, strict=True)
            ],
        }

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
        path = self.stack.run_dir / "catalog-bench.yaml"
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

    async def open_remediations(self) -> None:
        n = self.scale.open
        burst = self.results.get("burst", {})
        canary_rate = burst.get("canary", {}).get("per_s") or 20.0
        floor_rate = burst.get("floor", {}).get("per_s") or 100.0
        canary_after = math.ceil(n / canary_rate * 1.5 + 30)
        floor_after = math.ceil(n / floor_rate * 1.5 + 15)

        async def canary() -> dict[str, Any]:
            catalog = self.escalation_catalog(canary_after)
            self.stack.restart("worker", CANARY_CATALOG=str(catalog))
            await self.wait_log("worker", "polling task queue")
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            templates = [
                "Nightly export to the warehouse failed: {n} rows rejected (HTTP 503)",
                "HubSpot sync job {n} failed at step 3: 502 Bad Gateway",
                "Zap 'Enrich new leads' run {n} errored: Clearbit quota exceeded",
            ]

            async def detect(i: int) -> str:
                detection = {
                    "source": "bench-monitor",
                    "subject": {"kind": "job_run", "id": f"{self.run}-{i:05d}"},
                    "account": {"name": f"Bench Account {i % 50}", "owner_email": OWNER_EMAIL},
                    "message": random.choice(templates).format(n=i),
                    "facts": {"job": i % 17},
                }
                answer = await self.http.post(
                    f"{self.stack.gateway_url}/api/detections", json=detection, headers=auth
                )
                answer.raise_for_status()
                return str(answer.json()["workflow_id"])

            memory: list[float] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(self.watch_memory("worker", stop, memory))
            started = time.time()
            ids = await self.gather(detect(i) for i in range(n))
            alerts = await self.posts.wait(
                {(w, "alert") for w in ids}, timeout=max(600, n / 5), interval=1.0
            )
            opened = max(e["at"] for e in alerts.values())
            open_count = await self.temporal.count_workflows(
                f"WorkflowType = 'RemediationWorkflow' AND ExecutionStatus = 'Running' "
                f"AND CanarySubject STARTS_WITH 'job_run:{self.run}-'"
            )
            rss_open = self.stack.children["worker"].memory_mb()[0]
            due_by = started + canary_after + (opened - started)
            self.log(
                f"  {n} open after {opened - started:.0f}s "
                f"(RSS {rss_open:.0f} MB); escalations due within {due_by - time.time():.0f}s"
            )
            escalations = await self.wait_escalations(ids, due_by)
            stop.set()
            await watcher
            lateness = [
                escalations[(w, "escalation/1")]["at"] - alerts[(w, "alert")]["at"] - canary_after
                for w in ids
                if (w, "escalation/1") in escalations
            ]
            sample = random.sample(ids, min(200, n))
            timer_lateness = await self.timer_lateness(sample, canary_after)
            fired_lateness = await self.timer_fired_lateness(sample, canary_after)
            escalated = await self.temporal.count_workflows(
                f"CanaryEscalationLevel >= 1 AND CanarySubject STARTS_WITH 'job_run:{self.run}-'"
            )
            _, peak = self.stack.children["worker"].memory_mb()
            return {
                "n": n,
                "open_at_once": open_count.count,
                "intake_seconds": round(opened - started, 1),
                "escalate_after_s": canary_after,
                "rss_mb_all_open": round(rss_open, 1),
                "peak_rss_mb": round(max([peak, *memory]), 1),
                "escalated": escalated.count,
                "escalations_posted": len(lateness),
                # A timer lost never fires: the remediation never reached escalation level 1.
                # One that fired but whose Slack post had not arrived when the bench stopped
                # waiting is late, not lost.
                "lost": n - escalated.count,
                "unposted_when_stopped": n - len(lateness),
                "due_to_escalation_posted_s": seconds_summary(lateness),
                "timer_lateness_s_sample": seconds_summary(timer_lateness),
                "timer_fired_lateness_s_sample": seconds_summary(fired_lateness),
            }

        async def floor() -> dict[str, Any]:
            self.stack.restart("floor")
            await self.wait_log("floor", "floor worker polling")
            keys = [f"floor-{self.run}-open-{i}" for i in range(n)]
            memory: list[float] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(self.watch_memory("floor", stop, memory))
            started = time.time()
            await self.gather(self.start_floor(k, floor_after) for k in keys)
            alerts = await self.posts.wait(
                {(k, "alert") for k in keys}, timeout=max(600, n / 5), interval=1.0
            )
            opened = max(e["at"] for e in alerts.values())
            rss_open = self.stack.children["floor"].memory_mb()[0]
            due_by = started + floor_after + (opened - started)
            escalations = await self.wait_escalations(keys, due_by)
            stop.set()
            await watcher
            lateness = [
                escalations[(k, "escalation/1")]["at"] - alerts[(k, "alert")]["at"] - floor_after
                for k in keys
                if (k, "escalation/1") in escalations
            ]
            _, peak = self.stack.children["floor"].memory_mb()
            return {
                "n": n,
                "intake_seconds": round(opened - started, 1),
                "escalate_after_s": floor_after,
                "rss_mb_all_open": round(rss_open, 1),
                "peak_rss_mb": round(max([peak, *memory]), 1),
                "escalations_posted": len(lateness),
                # The floor has no escalation level to read: a missing post counts as lost.
                "lost": n - len(lateness),
                "unposted_when_stopped": n - len(lateness),
                "due_to_escalation_posted_s": seconds_summary(lateness),
            }

        ours = await self.phase("open remediations (Canary)", canary)
        base = await self.phase("open remediations (floor)", floor)
        self.results["open_remediations"] = {"canary": ours, "floor": base}

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
            status = await get_status(self.temporal, workflow_id)
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


    async def timer_fired_lateness(self, ids: list[str], after: int) -> list[float]:
        """The Temporal server's view, from a sample of histories: when the escalation timer
        fired (its TimerFired event) against when it was due (TimerStarted + its duration),
        whatever the worker did next."""
        found = []
        for workflow_id in ids:
            history = await self.temporal.get_workflow_handle(workflow_id).fetch_history()
            due: dict[str, float] = {}
            for event in history.events:
                at = event.event_time.ToMicroseconds() / 1e6
                if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                    started = event.timer_started_event_attributes
                    if started.start_to_fire_timeout.seconds == after:
                        due[started.timer_id] = at + after
                elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                    timer = event.timer_fired_event_attributes.timer_id
                    if timer in due:
                        found.append(at - due[timer])
        return found


def seconds_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


def median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose rate is the median, with every round's rate beside it."""
    ranked = sorted(runs, key=lambda run: run["per_s"])
    middle = dict(ranked[(len(ranked) - 1) // 2])
    middle["per_s_rounds"] = [run["per_s"] for run in runs]
    return middle


__all__ = ["Bench", "Scale", "CANARY_QUEUE"]
