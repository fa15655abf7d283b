"""The Canary worker: registers the workflows and activities on the task queue."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from canary.activities import RemediationActivities
from canary.activities.detectors import DetectorActivities
from canary.client import connect
from canary.metrics import MetricsInterceptor, configure_metrics
from canary.settings import Settings, get_settings
from canary.telemetry import configure_tracing
from canary.workflows import WORKFLOWS

log = logging.getLogger("canary.worker")


def build_worker(
    client: Client,
    settings: Settings | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    task_queue: str | None = None,
    **worker_options: Any,
) -> Worker:
    settings = settings or get_settings()
    if activities is None:
        activities = [
            *RemediationActivities(settings, temporal=client).all(),
            *DetectorActivities(settings, temporal=client).all(),
        ]
    worker_options.setdefault("max_cached_workflows", 2000)
    # Counts remediations opened, escalated and resolved (replay-safe; see canary.metrics).
    worker_options.setdefault("interceptors", [MetricsInterceptor()])
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=list(activities),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=32),
        **worker_options,
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    # Fail at start, not mid-remediation, when a setting the activities need is missing.
    settings.require("stripe_api_key", "by the worker to read invoices and retry payments")
    settings.require("slack_bot_token", "by the worker to post alerts to Slack")
    configure_tracing(settings, "worker")
    configure_metrics(settings, "worker")
    client = await connect(settings)
    worker = build_worker(client, settings)
    log.info(
        "Canary worker polling task queue %r on %s (namespace %s)",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker())
