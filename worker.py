"""`python worker.py` or `canary worker`: one worker, every workflow and activity on the queue."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import (
    DetectorActivities,
    DigestActivities,
    EmailActivities,
    HomeActivities,
    InvestigationActivities,
    Services,
    SlackActivities,
    StepActivities,
    StripeActivities,
    WindowActivities,
)
from canary.adapters.sessions import CALL_THREADS
from canary.catalog import cached_catalog
from canary.client import connect
from canary.gc_tuning import YOUNG_COLLECTION_AFTER, tune_for_long_lived_heap
from canary.metrics import MetricsInterceptor, configure_metrics
from canary.settings import Settings, get_settings
from canary.telemetry import configure_tracing
from workflows import WORKFLOWS

log = logging.getLogger("worker")

#: Workflows run without the Python SDK's workflow sandbox. Canary's modules were already
#: passed through it (a sandbox that re-imports them for every run it starts or brings back
#: into the cache costs a copy of the workflow modules per cached remediation), so what it
#: still did at run time was pure overhead: it swapped sys.modules and the builtins for every
#: activation and ran compiled-on-the-spot `exec` code for every payload of every activation
#: and completion, three passes in and two out. The guard it stood for — workflow code calling
#: datetime.now(), random or I/O — is kept where it catches mistakes before they ship: every
#: recorded history is replayed under the strict default sandbox in `make test`
#: (tests/workflow/test_replay.py), as `canary replay` does against a server's histories.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def remediation_activities(
    services: Services, homes: HomeActivities | None = None
) -> list[Callable[..., Any]]:
    """What a remediation calls: its investigation, its steps, Stripe, Slack and its people's
    Homes (through ``homes``, whose refresher publishes them; a new one when not given)."""
    investigation = InvestigationActivities(services)
    homes = homes or HomeActivities(services)
    # The alert's and an escalation's Slack activities tell the Homes' refresher of their
    # changes themselves.
    slack = SlackActivities(services, tell_homes=homes.refresher.changed)
    stripe = StripeActivities(services)
    return [
        investigation.investigate,  # canary.investigate
        investigation.enrich,  # canary.enrich
        investigation.diagnose,  # canary.diagnose
        StepActivities(services).run_step,  # canary.run_step
        stripe.invoice_of_payment_intent,  # canary.invoice_of_payment_intent
        stripe.route_payment_attempt,  # canary.route_payment_attempt
        stripe.route_card_update,  # canary.route_card_update
        slack.post_slack,  # canary.post_slack
        slack.post_alert,  # canary.post_alert
        slack.post_escalation,  # canary.post_escalation
        slack.resolve_owner,  # canary.resolve_owner
        WindowActivities(services).quiet_windows,  # canary.quiet_windows
        homes.home_changed,  # canary.home_changed
    ]


def all_activities(services: Services) -> list[Callable[..., Any]]:
    """Every activity of every workflow: the remediation's, the digest's, e-mail, detectors."""
    digest = DigestActivities(services)
    detectors = DetectorActivities(services)
    # One refresher for the worker: the one the remediations tell, and the one stopped with it.
    homes = HomeActivities(services)
    return [
        *remediation_activities(services, homes),
        digest.digest_add,  # canary.digest_add
        digest.digest_states,  # canary.digest_states
        EmailActivities(services).send_email,  # canary.send_email
        homes.publish_home,  # canary.publish_home
        detectors.detector_query,  # canary.detector_query
        detectors.account_team,  # canary.account_team
        detectors.raise_detection,  # canary.raise_detection
    ]


class CanaryWorker(Worker):
    """A worker that, when it shuts down, stops what its activities keep running between calls
    (the Homes' refresher) and then closes the connections they keep open (Slack's session),
    in the order of ``closing``."""

    def __init__(
        self,
        *args: Any,
        closing: Sequence[Callable[[], Awaitable[None] | None]] = (),
        **kw: Any,
    ):
        super().__init__(*args, **kw)
        self._closing = list(closing)

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            for close in self._closing:
                closed = close()
                if inspect.isawaitable(closed):
                    await closed


def build_worker(
    client: Client,
    settings: Settings | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    task_queue: str | None = None,
    **worker_options: Any,
) -> CanaryWorker:
    settings = settings or get_settings()
    if activities is None:
        activities = all_activities(Services(settings, temporal=client))
    worker_options.setdefault("max_cached_workflows", settings.max_cached_workflows)
    worker_options.setdefault("workflow_runner", WORKFLOW_RUNNER)
    worker_options.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_QUEUE_TIMEOUT)
    # Counts remediations opened, escalated and resolved (replay-safe; see canary.metrics).
    worker_options.setdefault("interceptors", [MetricsInterceptor()])
    owners = [getattr(a, "__self__", None) for a in activities]
    homes = {id(h): h for h in owners if isinstance(h, HomeActivities)}
    services = {
        id(s): s for s in (getattr(o, "services", None) for o in owners) if isinstance(s, Services)
    }
    return CanaryWorker(
        client,
        # The refresher first: it publishes through the services' Slack adapter.
        closing=[
            *(home.close for home in homes.values()),
            *(s.close for s in services.values()),
        ],
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=list(activities),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=32),
        **worker_options,
    )


#: Blocking outside calls (Stripe, Salesforce, the warehouse) waiting on the network at once,
#: per worker (each SDK's session pools as many connections). Slack's calls are the event
#: loop's, over its adapter's pooled connections.
OUTSIDE_CALL_THREADS = CALL_THREADS
#: How long a workflow task sent to this worker's sticky queue waits for it before Temporal
#: moves it to the task queue every worker polls. In a storm of escalations a busy worker
#: reaches its sticky tasks seconds late; with the SDK's ten seconds, those waiting longer
#: move behind the shared queue, which a worker polls a fifth as often, and wait there again
#: (bench/README.md). A worker that died stops polling, and Temporal stops sending it tasks
#: ten seconds later whatever this is.
STICKY_QUEUE_TIMEOUT = timedelta(seconds=60)
#: How long a stopping worker lets running activities finish; docker-compose's
#: stop_grace_period for the worker is longer.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    # Fail at start, not mid-remediation, when a setting the activities need is missing.
    settings.require("stripe_api_key", "by the worker to read invoices and retry payments")
    settings.require("slack_bot_token", "by the worker to post alerts to Slack")
    # The SOP catalog too, read once here: the first investigation does not wait on it, and a
    # broken catalog stops the worker with where and why (CatalogError).
    cached_catalog(settings.catalog_path)
    configure_tracing(settings, "worker")
    configure_metrics(settings, "worker")
    # Activities make their blocking SDK calls (Stripe, Salesforce, the warehouse) in threads
    # (asyncio.to_thread): the default pool's cpu_count + 4 threads would let six outside
    # calls wait on the network at once, however many remediations are in flight.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=OUTSIDE_CALL_THREADS, thread_name_prefix="canary-call"
        )
    )
    client = await connect(settings)
    worker = build_worker(client, settings, graceful_shutdown_timeout=GRACEFUL_SHUTDOWN)
    # SIGTERM (a deploy, `docker stop`, Kubernetes) drains instead of dying mid-call: the
    # worker stops polling, lets running activities finish for up to GRACEFUL_SHUTDOWN (a
    # Stripe retry completes and is reported once, not repeated by the next worker), then
    # exits. As a container's PID 1 a process without a handler would ignore SIGTERM.
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    # What the worker made to get here lives as long as it does: no collection walks it again.
    frozen = tune_for_long_lived_heap()
    log.info(
        "Heap: %d objects made at start frozen; the young generation collected every %d "
        "allocations",
        frozen,
        YOUNG_COLLECTION_AFTER,
    )
    async with worker:
        log.info(
            "Canary worker polling task queue %r on %s (namespace %s)",
            settings.task_queue,
            settings.temporal_address,
            settings.temporal_namespace,
        )
        await stop.wait()
        log.info(
            "Canary worker draining: finishing running activities (up to %s s), then exiting",
            GRACEFUL_SHUTDOWN.total_seconds(),
        )
    log.info("Canary worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker())


if __name__ == "__main__":
    main()
