"""Faults that take a process down: the worker SIGKILLed mid-burst, the Temporal server
restarted on its database file. Nothing is lost and no invoice is charged twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from canary.catalog.loader import DEFAULT_CATALOG
from canary.converter import canary_data_converter
from canary.models import ActionRequest
from canary.telemetry import temporal_interceptors
from starter.intake import get_status, take_action
from tests.helpers import eventually
from tests.processes import Child, DevServer, canary_worker, worker_env
from tests.stack import LiveStack, live_stack
from workflows import remediation_id

pytestmark = pytest.mark.timeout(240)

OWNER = {"owner_email": "alice@acme-gtm.example"}


def failed_invoices(client: stripe.StripeClient, count: int, tag: str) -> dict[str, str]:
    """``count`` customers, each with one invoice declined for insufficient funds: invoice id →
    customer id. The sandbox's Stripe sends the webhooks to the gateway."""
    made: dict[str, str] = {}
    for n in range(count):
        customer = client.v1.customers.create(
            params={
                "name": f"Fault {tag} {n}",
                "email": f"ap{n}@fault-{tag}.example",
                "metadata": {**OWNER, "domain": f"fault-{tag}.example"},
            }
        )
        card = client.v1.payment_methods.attach(
            "pm_card_chargeDeclinedInsufficientFunds", params={"customer": customer.id}
        )
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
        )
        invoice = client.v1.invoices.create(
            params={
                "customer": customer.id,
                "auto_advance": False,
                "collection_method": "charge_automatically",
            }
        )
        assert invoice.id is not None
        # Over the payment_failed SOP's quiet threshold ($1,000): people are alerted at once.
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": 250_000 + n,
                "currency": "usd",
            }
        )
        client.v1.invoices.finalize_invoice(invoice.id)
        with pytest.raises(stripe.CardError):
            client.v1.invoices.pay(invoice.id)
        made[invoice.id] = customer.id
    return made


def give_working_card(client: stripe.StripeClient, customer: str) -> None:
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": card.id}}
    )


async def fault(live: LiveStack, **spec: Any) -> None:
    response = await live.http.post(f"{live.sandbox.url}/_sandbox/faults", json=spec)
    response.raise_for_status()


async def hold_slack_post(live: LiveStack, skip: int = 0) -> None:
    """Slack takes the next chat.postMessage (after ``skip`` of them), then holds its answer
    for a minute: the workflow task that made it cannot finish before the worker is killed."""
    await fault(
        live,
        service="slack",
        path="/api/chat.postMessage",
        passthrough=True,
        respond_after=60.0,
        times=1,
        skip=skip,
    )


async def fault_hits(live: LiveStack) -> int:
    return sum(f["hits"] for f in await live.sandbox_get("/_sandbox/faults"))


async def all_awaiting_people(live: LiveStack, ids: list[str]) -> bool:
    statuses = [await get_status(live.client, w) for w in ids]
    return all(s is not None and s.state == "awaiting_human" and s.slack for s in statuses)


async def retry_as_operator(client: Client, workflow_id: str) -> Any:
    """`canary signal ID retry`; an RPC cut short by the restart is simply sent again."""
    request = ActionRequest(action="retry", user="ops-oncall", source="cli")
    for _ in range(5):
        try:
            return await take_action(client, workflow_id, request)
        except Exception:  # noqa: BLE001 - the server or worker went away mid-call
            await asyncio.sleep(1)
    return await take_action(client, workflow_id, request)


async def test_worker_sigkilled_during_a_burst_of_payment_retries(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    # Failures and payments only: a new card would retry by itself (card events), and this
    # test is about an operator's retries surviving worker kills.
    events = ("invoice.payment_failed", "payment_intent.payment_failed", "charge.failed",
              "invoice.paid", "invoice.payment_succeeded", "payment_intent.succeeded",
              "charge.succeeded")  # fmt: skip
    async with live_stack(
        dev_env.client, worker=False, step_timeout_seconds=5.0, stripe_events=events
    ) as live:
        worker = canary_worker(worker_env(live, address), tmp_path / "worker.log").start()
        try:
            tag = uuid.uuid4().hex[:6]
            making = asyncio.create_task(asyncio.to_thread(failed_invoices, live.stripe, 6, tag))
            # Killed while the burst arrives and is diagnosed: once it has started reading Stripe.
            await eventually(
                lambda: live.requests(service="stripe", method="GET", path_prefix="/v1/invoices/"),
                lambda found: any(r["query"].get("expand[0]") == "customer" for r in found),
                timeout=60,
                interval=0.05,
            )
            worker.kill()
            worker.start()
            invoices = await making
            ids = [remediation_id("payment_failed", "invoice", i) for i in invoices]
            await eventually(lambda: all_awaiting_people(live, ids), bool, timeout=120)
            # The worker that took them over runs on its tuned heap (canary.gc_tuning).
            assert "objects made at start frozen" in worker.output()

            # Every payer fixes their card; an operator retries all of them at once. Stripe
            # charges each card and then holds its answer while the worker is killed, so every
            # retry's outcome is lost with the worker and the step runs again after restart.
            for customer in invoices.values():
                await asyncio.to_thread(give_working_card, live.stripe, customer)
            await fault(
                live,
                service="stripe",
                method="POST",
                path="/v1/invoices/",
                passthrough=True,
                respond_after=4.0,
                times=len(ids),
            )
            retries = [asyncio.create_task(retry_as_operator(live.client, w)) for w in ids]
            await eventually(
                lambda: live.requests(service="stripe", method="POST", path_prefix="/v1/invoices/"),
                lambda found: (
                    sum(p["path"].endswith("/pay") for p in found) >= 2 * len(ids)
                ),  # the declines that started it, then the retries
                timeout=90,
                interval=0.05,
            )
            worker.kill()
            await asyncio.sleep(0.5)
            worker.start()
            await asyncio.sleep(2.0)  # and once more while it replays and retries
            worker.kill()
            worker.start()
            results = await asyncio.wait_for(asyncio.gather(*retries), timeout=150)
            assert all(r.accepted for r in results), [r.message for r in results]
            for invoice, customer in invoices.items():
                await assert_charged_once(live, invoice, customer)
            assert worker.starts >= 4
        finally:
            worker.stop()


async def assert_charged_once(live: LiveStack, invoice: str, customer: str) -> None:
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    status = await get_status(live.client, workflow_id)
    assert status is not None
    assert (status.state, status.outcome) == ("resolved", "resolved_by_human")
    assert status.attempts == 1
    pays = [
        p
        for p in await live.requests(
            service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay"
        )
        if (p["idempotency_key"] or "").startswith(f"canary/{workflow_id}/")
    ]
    # The retry reached Stripe more than once (before and after the kill) under one key, and
    # Stripe charged once: the later calls were replays of the first answer.
    assert len(pays) >= 2
    assert {p["idempotency_key"] for p in pays} == {pays[0]["idempotency_key"]}
    assert all(p["status"] == 200 for p in pays)
    charges = live.stripe.v1.charges.list(params={"customer": customer}).data
    assert [c.status for c in charges].count("succeeded") == 1
    assert live.stripe.v1.invoices.retrieve(invoice).status == "paid"
    # And nobody was alerted twice for it.
    alerts = [
        m
        for m in await live.messages("#gtm-alerts")
        if m.get("thread_ts") in (None, m["ts"]) and f"/{invoice}" in str(m.get("blocks"))
    ]
    assert len(alerts) == 1


async def test_worker_killed_after_posting_the_first_alert_posts_it_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The first alert goes out from the workflow task that started the remediation (a local
    activity). The worker dies after Slack accepted the alert, before the task completed: the
    task is tried again on the restarted worker, which finds the alert by its metadata."""
    address = dev_env.client.service_client.config.target_host
    async with live_stack(dev_env.client, worker=False) as live:
        worker = canary_worker(worker_env(live, address), tmp_path / "worker.log").start()
        try:
            # Slack posts the alert, then holds its answer: the task cannot finish.
            await hold_slack_post(live)
            made = await asyncio.to_thread(failed_invoices, live.stripe, 1, uuid.uuid4().hex[:6])
            invoice = next(iter(made))
            workflow_id = remediation_id("payment_failed", "invoice", invoice)

            async def alerts_posted() -> list[dict[str, Any]]:
                return [
                    p
                    for p in await live.requests(service="slack", path="/api/chat.postMessage")
                    if p["status"] == 200
                    and p["body"]["metadata"]["event_payload"]["key"].startswith(f"{workflow_id}/")
                    and p["body"]["metadata"]["event_payload"]["key"].endswith("/alert")
                ]

            await eventually(alerts_posted, bool, timeout=60, interval=0.05)
            await eventually(lambda: fault_hits(live), bool, timeout=30, interval=0.05)
            posted = await live.requests(service="slack")
            cursor = max(e["id"] for e in posted)
            worker.kill()
            worker.start()
            status = await eventually(
                lambda: get_status(live.client, workflow_id),
                lambda s: s is not None and s.slack is not None,
                timeout=90,
            )
            assert status is not None and status.state == "awaiting_human"
            assert len(await alerts_posted()) == 1, "the alert was not posted twice"
            looked = await live.requests(
                service="slack", path="/api/conversations.history", since_id=cursor
            )
            assert looked, "the retried task looked for the alert before posting"
            assert "slack_failed" not in [e.kind for e in status.timeline]
        finally:
            worker.stop()


def quick_timers_catalog(path: Path, retry_after: int, escalate_after: int) -> Path:
    """The default catalog with the insufficient-funds retry and the first escalation due in
    seconds rather than hours, so a test sees them fire: the recovery plan (days apart) gives
    way to one scheduled retry ``retry_after`` seconds after the diagnosis."""
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    sop = next(s for s in data["sops"] if s["type"] == "payment_failed")
    sop["retry_on_plan"] = False
    branch = next(b for b in sop["branches"] if b["id"] == "insufficient_funds")
    branch["steps"].append(
        {
            "id": "scheduled-retry",
            "action": "stripe.retry_payment",
            "title": "Retry the payment",
            "after": f"PT{retry_after}S",
            "resolves": True,
        }
    )
    sop["escalation"][0]["after"] = f"PT{escalate_after}S"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def connect_to(server: DevServer) -> Client:
    """A client of the dev server once its frontend answers: the port opens a moment before
    the frontend is healthy ("Frontend is not healthy yet"), more so on a busy machine."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await Client.connect(
                server.address,
                data_converter=canary_data_converter,
                interceptors=temporal_interceptors(),
            )
        except RuntimeError as err:
            if "not healthy" not in str(err) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_dev_server_restarted_on_its_database_mid_flight(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db", tmp_path / "temporal.log").start()
    worker: Child | None = None
    try:
        client = await connect_to(server)
        catalog = quick_timers_catalog(tmp_path / "catalog.yaml", retry_after=25, escalate_after=30)
        async with live_stack(client, worker=False, catalog_path=str(catalog)) as live:
            env = worker_env(live, server.address, CANARY_CATALOG=str(catalog))
            worker = canary_worker(env, tmp_path / "worker.log").start()
            tag = uuid.uuid4().hex[:6]
            invoices = await asyncio.to_thread(failed_invoices, live.stripe, 3, tag)
            ids = [remediation_id("payment_failed", "invoice", i) for i in invoices]
            await eventually(lambda: all_awaiting_people(live, ids), bool, timeout=90)
            before = {w: await get_status(client, w) for w in ids}
            assert all(s and s.escalation_level == 0 and s.attempts == 0 for s in before.values())

            # The server dies (SIGKILL: no clean shutdown) and comes back on the same file.
            server.kill()
            await asyncio.sleep(1.0)
            server.start()

            # Open remediations are all there, their story intact, still waiting on people.
            for workflow_id, old in before.items():
                now = await eventually(
                    lambda w=workflow_id: get_status(client, w), lambda s: s is not None, timeout=60
                )
                assert now.state == "awaiting_human"
                assert [e.kind for e in now.timeline[: len(old.timeline)]] == [
                    e.kind for e in old.timeline
                ]

            # A pending approval still works: the owner's click resolves one of them.
            first, *rest = ids
            message = next(
                m for m in await live.messages("#gtm-alerts") if first in str(m.get("blocks"))
            )
            click = await live.click("U0ALICE", message, "canary:resolve")
            assert click["status"] == 200
            assert (await live.submit("U0ALICE", {}))["closed"]
            closed = await eventually(
                lambda: get_status(client, first),
                lambda s: s is not None and s.state == "resolved",
                timeout=60,
            )
            assert closed.outcome == "resolved_by_human"

            # Timers set before the restart fire after it: the scheduled retry of the payment
            # (still declined) and the first escalation, on each remaining remediation.
            for workflow_id in rest:
                status = await eventually(
                    lambda w=workflow_id: get_status(client, w),
                    lambda s: s is not None and s.escalation_level >= 1 and s.attempts >= 1,
                    timeout=90,
                )
                kinds = [e.kind for e in status.timeline]
                assert "escalated" in kinds and "step_failed" in kinds
                assert status.state == "escalated"

            # And new detections keep arriving after the restart.
            later = await asyncio.to_thread(failed_invoices, live.stripe, 1, uuid.uuid4().hex[:6])
            new_id = remediation_id("payment_failed", "invoice", next(iter(later)))
            await eventually(
                lambda: get_status(client, new_id),
                lambda s: s is not None and s.state == "awaiting_human",
                timeout=60,
            )
            assert worker.alive(), worker.output()[-3000:]
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


async def test_late_answers_are_served_after_the_effect(dev_env: WorkflowEnvironment) -> None:
    """The sandbox fault the kill test relies on: the call takes effect, the answer is late."""
    async with live_stack(dev_env.client) as live:
        await fault(
            live, service="slack", path="/api/chat.postMessage", passthrough=True, respond_after=1.5
        )
        async with httpx.AsyncClient(timeout=0.5) as quick:
            with pytest.raises(httpx.TimeoutException):
                await quick.post(
                    f"{live.sandbox.url}/api/chat.postMessage",
                    headers={"Authorization": "Bearer xoxb-canary-e2e"},
                    json={"channel": "C0GENERAL", "text": "late but posted"},
                )
        posted = await eventually(
            lambda: live.messages("#general"),
            lambda ms: any(m["text"] == "late but posted" for m in ms),
        )
        assert posted


def escalating_catalog(path: Path, after_seconds: int) -> Path:
    """The default catalog with a failed payment escalated to the escalation channel
    ``after_seconds`` after its alert (instead of hours)."""
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    sop = next(s for s in data["sops"] if s["type"] == "payment_failed")
    sop["escalation"] = [
        {
            "after": f"PT{after_seconds}S",
            "target": "escalation_channel",
            "message": "Nobody has acted on this failed payment for {waited}.",
        }
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("held", ["line", "post"])
async def test_worker_killed_while_escalating_posts_each_message_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, held: str
) -> None:
    """An escalation's Slack work goes out from the workflow task its timer started (local
    activities): the alert's update with the escalation's line under it, then the escalation
    channel's post. The worker dies after Slack accepted the line (or the post), before the
    task completed: the task is tried again on the restarted worker, which finds the line in
    the alert's thread and then the post among the channel's latest, and posts neither
    twice."""
    address = dev_env.client.service_client.config.target_host
    catalog = escalating_catalog(tmp_path / "catalog.yaml", after_seconds=6)
    async with live_stack(dev_env.client, worker=False, catalog_path=str(catalog)) as live:
        env = worker_env(live, address, CANARY_CATALOG=str(catalog))
        worker = canary_worker(env, tmp_path / "worker.log").start()
        try:
            made = await asyncio.to_thread(failed_invoices, live.stripe, 1, uuid.uuid4().hex[:6])
            workflow_id = remediation_id("payment_failed", "invoice", next(iter(made)))
            await eventually(lambda: all_awaiting_people(live, [workflow_id]), bool, timeout=60)
            # The escalation posts the line, then the channel's post: Slack takes the one
            # held, then holds its answer.
            await hold_slack_post(live, skip=0 if held == "line" else 1)

            async def posted(suffix: str) -> list[dict[str, Any]]:
                return [
                    p
                    for p in await live.requests(service="slack", path="/api/chat.postMessage")
                    if p["status"] == 200
                    and p["body"]["metadata"]["event_payload"]["key"].startswith(f"{workflow_id}/")
                    and suffix in p["body"]["metadata"]["event_payload"]["key"]
                ]

            await eventually(
                lambda: posted("/thread/" if held == "line" else "/escalation/1"),
                bool,
                timeout=60,
                interval=0.05,
            )
            await eventually(lambda: fault_hits(live), bool, timeout=30, interval=0.05)
            cursor = max(e["id"] for e in await live.requests(service="slack"))
            worker.kill()
            worker.start()
            status = await eventually(
                lambda: get_status(live.client, workflow_id),
                lambda s: s is not None and len(s.messages) == 1,
                timeout=90,
            )
            assert status is not None and status.state == "escalated"
            assert len(await posted("/escalation/1")) == 1, "the post was not posted twice"
            # The escalation's line (a reply the first alert carried, say an owner lookup
            # that failed on a busy machine, is another line of the thread).
            lines = [p for p in await posted("/thread/") if "Escalated to" in p["body"]["text"]]
            assert len(lines) == 1
            looked = await live.requests(
                service="slack", path="/api/conversations.replies", since_id=cursor
            )
            assert looked, "the retried task looked for the line under the alert"
            searched = await live.requests(
                service="slack", path="/api/conversations.history", since_id=cursor
            )
            assert searched and all(r["query"].get("oldest") for r in searched), (
                "the channel's post was looked for among the posts since it fell due"
            )
            updates = await live.requests(service="slack", path="/api/chat.update", since_id=cursor)
            assert updates, "the alert was updated after the restart"
            assert "slack_failed" not in [e.kind for e in status.timeline]
        finally:
            worker.stop()
