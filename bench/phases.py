"""`python -m bench.phases [N]`: where one remediation's time to alert goes, read from Temporal.

Starts the benchmark's stack, sends N signed `invoice.payment_failed` webhooks one at a time
(default 15) and the same number of floor workflows, then reads each run's history and prints
the median time from the webhook being sent to every history event up to the alert, next to
the floor's. History event times are the server's; the alert's time is the sandbox's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.figures import Bench, Scale
from bench.stack import BenchStack
from canary.converter import canary_data_converter


def event_name(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


async def offsets(client: Client, workflow_id: str, sent: float, until: float) -> list[str]:
    """Each history event up to ``until`` as "n. name +ms" relative to ``sent``."""
    rows: list[str] = []
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    seen: dict[str, int] = defaultdict(int)
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
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
        for title, samples, totals in (("Canary", ours, alerts), ("floor", base, floor_alerts)):
            print(f"\n{title}: median ms after the webhook/start was sent (n={len(totals)})")
            for name, ms in median_rows(samples):
                print(f"  {ms:8.1f}  {name}")
            print(f"  {statistics.median(totals):8.1f}  alert recorded by the sandbox")
    finally:
        stack.close()
        print("logs in", run_dir)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
