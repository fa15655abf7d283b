"""`python -m bench.phases [N]`: where one remediation's time to alert and a click's time go.

Starts the benchmark's stack, sends N signed `invoice.payment_failed` webhooks one at a time
(default 15) and the same number of floor workflows, then reads each run's history and prints
the median time from the webhook being sent to every history event up to the alert, next to
the floor's. Then it clicks "Retry payment" on each alert and prints the median time from the
gateway being sent the click to every history event up to the retry's activity starting, next
to the floor's approval (its update sent → its events until the update's answer). History
event times are the server's; the alert's and the click's times are the sandbox's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.figures import Bench, Scale
from bench.floor import FloorApproval
from bench.probe import OWNER_SLACK
from bench.stack import BenchStack
from canary.converter import canary_data_converter


def event_name(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


async def offsets(client: Client, workflow_id: str, sent: float, until: float) -> list[str]:
    """Each history event from ``sent`` up to ``until`` as "name#n +ms" relative to ``sent``."""
    rows: list[str] = []
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    seen: dict[str, int] = defaultdict(int)
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if at < sent - 0.001:
            continue
        if at > until + 0.001:
            break
        name = event_name(event.event_type)
        if name == "marker_recorded":
            name = "marker:" + event.marker_recorded_event_attributes.marker_name
        seen[name] += 1
        rows.append(f"{name}#{seen[name]}\t{(at - sent) * 1000:.1f}")
    return rows


def median_rows(samples: list[list[str]]) -> list[tuple[str, float]]:
    by_name: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    for rows in samples:
        for row in rows:
            name, ms = row.split("\t")
            if name not in by_name:
                order.append(name)
            by_name[name].append(float(ms))
    return [(name, statistics.median(by_name[name])) for name in order]


async def click_phases(
    bench: Bench, client: Client, count: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Each alert's "Retry payment" clicked, and each floor workflow approved, one at a time:
    the history events from the click reaching the gateway to the retry's activity starting,
    and from the floor's update being sent to its answer."""
    ours: list[list[str]] = []
    for n, invoice in enumerate(bench.invoices):
        workflow_id = f"payment_failed:invoice:{invoice}"
        _, received = await bench.click_retry(workflow_id)
        await bench.pays.wait({(workflow_id, "manual-retry/1")}, timeout=60)
        await bench.posts.wait({(workflow_id, "thread/1")}, timeout=60)
        if n >= 3:
            started = await bench.action_started(workflow_id)
            ours.append(await offsets(client, workflow_id, received, started))
    base: list[list[str]] = []
    for i in range(count + 3):
        handle = client.get_workflow_handle(f"floor-phases-{i}")
        sent = time.time()
        await handle.execute_update("approve", FloorApproval(user=OWNER_SLACK), result_type=str)
        answered = time.time()
        if i >= 3:
            base.append(await offsets(client, handle.id, sent, answered))
    return ours, base


async def main(count: int) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="canary-phases-"))
    stack = BenchStack(run_dir)
    try:
        stack.start()
        stack.start_worker()
        stack.start_floor_worker()
        client = await Client.connect(stack.temporal_address, data_converter=canary_data_converter)
        async with httpx.AsyncClient(timeout=120) as http:
            scale = Scale(samples=count + 3, burst=0, open=0)
            bench = Bench(stack, scale, http, client, figures=("time_to_alert",))
            await bench.wait_log("worker", "polling task queue")
            await bench.wait_log("floor", "floor worker polling")
            await bench.prepare()
            ours: list[list[str]] = []
            alerts: list[float] = []
            for n, invoice in enumerate(bench.invoices):
                sent, workflow_id = await bench.send_webhook(invoice)
                found = await bench.posts.wait({(workflow_id, "alert")}, timeout=60)
                posted = found[(workflow_id, "alert")]["at"]
                if n >= 3:
                    alerts.append((posted - sent) * 1000)
                    ours.append(await offsets(client, workflow_id, sent, posted))
            base: list[list[str]] = []
            floor_alerts: list[float] = []
            for i in range(count + 3):
                key = f"floor-phases-{i}"
                sent = await bench.start_floor(key)
                found = await bench.posts.wait({(key, "alert")}, timeout=60)
                posted = found[(key, "alert")]["at"]
                if i >= 3:
                    floor_alerts.append((posted - sent) * 1000)
                    base.append(await offsets(client, key, sent, posted))
                await asyncio.sleep(0.05)
            clicks, floor_clicks = await click_phases(bench, client, count)
        for title, samples, totals in (("Canary", ours, alerts), ("floor", base, floor_alerts)):
            print(f"\n{title}: median ms after the webhook/start was sent (n={len(totals)})")
            for name, ms in median_rows(samples):
                print(f"  {ms:8.1f}  {name}")
            print(f"  {statistics.median(totals):8.1f}  alert recorded by the sandbox")
        for title, samples in (("Canary", clicks), ("floor", floor_clicks)):
            print(f"\n{title}: median ms after the click/approval was sent (n={len(samples)})")
            for name, ms in median_rows(samples):
                print(f"  {ms:8.1f}  {name}")
    finally:
        stack.close()
        print("logs in", run_dir)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
