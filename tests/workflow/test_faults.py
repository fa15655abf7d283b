"""Faults at the edges, on a live stack: duplicate webhook storms, and Stripe, Slack and
Salesforce answering 500, 429 with Retry-After, slowly, or with a body that is not JSON.

Transient trouble is retried with backoff (and no sooner than Retry-After asks); permanent
refusals are not retried; either way the remediation records what happened and waits for a
person. Every claim is checked against what the sandbox recorded receiving.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import stripe
from slack_sdk import WebClient
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import InvestigationActivities, Services, SlackActivities
from canary.adapters import PermanentError, TransientError
from canary.adapters.stripe_adapter import STRIPE_API_VERSION, _translate
from canary.models import ActionRequest, Detection, EnrichInput, SlackMessageInput
from starter.intake import get_status, take_action
from tests.helpers import eventually, stripe_signature
from tests.stack import API_TOKEN, SLACK_TOKEN, WEBHOOK_SECRET, LiveStack, live_stack
from workflows import remediation_id

pytestmark = pytest.mark.timeout(180)

OWNER = {"owner_email": "alice@acme-gtm.example"}


@pytest.fixture()
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    # A stack per test: faults are global to a sandbox, and a test's faults must meet only
    # its own remediation's calls. Steps time out after 2 s so a slow call is retried soon.
    async with live_stack(dev_env.client, step_timeout_seconds=2.0) as live:
        yield live


# -- helpers ------------------------------------------------------------------------------------


def customer_with_card(client: stripe.StripeClient, card: str) -> str:
    tag = uuid.uuid4().hex[:8]
    customer = client.v1.customers.create(
        params={
            "name": f"Faulty {tag}",
            "email": f"ap@{tag}.example",
            "metadata": {**OWNER, "domain": f"{tag}.example"},
        }
    )
    method = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    return str(customer.id)


def draft_invoice(client: stripe.StripeClient, customer: str) -> str:
    invoice = client.v1.invoices.create(
        params={
            "customer": customer,
            "auto_advance": False,
            "collection_method": "charge_automatically",
        }
    )
    assert invoice.id is not None
    client.v1.invoice_items.create(
        params={"customer": customer, "invoice": invoice.id, "amount": 150_000, "currency": "usd"}
    )
    return invoice.id


def decline(client: stripe.StripeClient, invoice: str) -> None:
    """Finalize and charge it: the card declines and Stripe sends the webhooks."""
    client.v1.invoices.finalize_invoice(invoice)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice)


async def cards_routed(live: LiveStack, customer: str) -> None:
    """Wait until the webhooks of ``customer``'s card (attached, made the default) are
    delivered and the card updates they start are routed. A card set up before the failure
    then reaches no remediation; routed after the decline, it could tell the failure's
    remediation (a race of milliseconds) and add a reply to its thread."""

    def card_events(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            d
            for d in deliveries
            if d["type"] in ("payment_method.attached", "customer.updated")
            and customer
            in (
                d["payload"]["data"]["object"].get("customer"),
                d["payload"]["data"]["object"]["id"],
            )
        ]

    delivered = await eventually(
        lambda: live.sandbox_get("/_sandbox/stripe/deliveries"),
        lambda found: (
            len(card_events(found)) == 2 and all(d["delivered"] for d in card_events(found))
        ),
    )
    for delivery in card_events(delivered):
        await live.client.get_workflow_handle(f"card-update:{delivery['event']}").result()


async def declined_invoice(live: LiveStack, *faults: dict[str, Any]) -> tuple[str, str]:
    """A declined invoice whose remediation meets ``faults`` (set up before the decline, so
    they can name the invoice). Returns (invoice id, workflow id)."""
    customer = await asyncio.to_thread(
        customer_with_card, live.stripe, "pm_card_chargeDeclinedInsufficientFunds"
    )
    await cards_routed(live, customer)
    invoice = await asyncio.to_thread(draft_invoice, live.stripe, customer)
    for spec in faults:
        await add_fault(
            live,
            **{k: v.format(invoice=invoice) if isinstance(v, str) else v for k, v in spec.items()},
        )
    await asyncio.to_thread(decline, live.stripe, invoice)
    return invoice, remediation_id("payment_failed", "invoice", invoice)


def live_customer(live: LiveStack, customer_id: str | None) -> dict[str, Any]:
    assert customer_id
    return dict(live.stripe.v1.customers.retrieve(customer_id).to_dict())


async def add_fault(live: LiveStack, **spec: Any) -> None:
    response = await live.http.post(f"{live.sandbox.url}/_sandbox/faults", json=spec)
    response.raise_for_status()


async def waiting_for_a_person(live: LiveStack, workflow_id: str) -> Any:
    return await eventually(
        lambda: get_status(live.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human" and s.slack is not None,
        timeout=60,
    )


def at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["at"]).timestamp()


def gaps(entries: list[dict[str, Any]]) -> list[float]:
    times = [at(e) for e in sorted(entries, key=lambda e: e["id"])]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def kinds(status: Any) -> list[str]:
    return [entry.kind for entry in status.timeline]


# -- duplicate storm ----------------------------------------------------------------------------


async def test_duplicate_storm_makes_one_remediation_and_counts_each_attempt_once(
    stack: LiveStack,
) -> None:
    invoice, workflow_id = await declined_invoice(stack)

    # The invoice's failure as the sandbox's Stripe sent it to the gateway.
    def failure(deliveries: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next(
            (
                d["payload"]
                for d in deliveries
                if d["type"] == "invoice.payment_failed"
                and d["payload"]["data"]["object"]["id"] == invoice
            ),
            None,
        )

    original = failure(
        await eventually(
            lambda: stack.sandbox_get("/_sandbox/stripe/deliveries"),
            lambda d: failure(d) is not None,
        )
    )
    assert original is not None
    body = json.dumps(original, indent=2).encode()

    # Fifty different failed attempts on the same invoice (Smart Retries, say), each its own
    # event and charge; and the first event delivered a hundred times at once.
    others = []
    for n in range(49):
        event = copy.deepcopy(original)
        event["id"] = f"evt_storm_{uuid.uuid4().hex[:16]}"
        event["data"]["object"]["charge"] = f"ch_storm_{n}_{uuid.uuid4().hex[:8]}"
        event["data"]["object"]["attempt_count"] = n + 2
        others.append(json.dumps(event, indent=2).encode())

    async def deliver(payload: bytes) -> Any:
        return await stack.http.post(
            f"{stack.gateway_url}/webhooks/stripe",
            content=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET),
            },
        )

    answers = await asyncio.gather(*(deliver(p) for p in [body] * 100 + others))
    assert [a.status_code for a in answers] == [200] * 149
    assert {tuple(a.json()["workflow_ids"]) for a in answers} == {(workflow_id,)}

    # The sandbox's own deliveries (invoice.payment_failed, charge.failed,
    # payment_intent.payment_failed of the first decline) and the hundred copies are one
    # attempt; the 49 others are one occurrence each.
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.occurrences >= 50,
        timeout=60,
    )
    await asyncio.sleep(1.0)  # anything still in flight would show up now
    status = await get_status(stack.client, workflow_id)
    assert status is not None and status.occurrences == 50
    assert kinds(status).count("occurrence") == 49
    runs = [e async for e in stack.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1
    alerts = [
        m
        for m in await stack.messages("#gtm-alerts")
        if m.get("thread_ts") in (None, m["ts"]) and f"/{invoice}" in str(m.get("blocks"))
    ]
    assert len(alerts) == 1, "one alert, updated in place, however many deliveries"


# -- transient faults: retried, with backoff, honouring Retry-After ------------------------------


async def test_stripe_500_then_429_are_retried_after_retry_after(stack: LiveStack) -> None:
    invoice, workflow_id = await declined_invoice(
        stack,
        {"service": "stripe", "method": "GET", "path": "/v1/invoices/{invoice}", "status": 500},
        {
            "service": "stripe",
            "method": "GET",
            "path": "/v1/invoices/{invoice}",
            "status": 429,
            "retry_after": 4,
        },
    )
    status = await waiting_for_a_person(stack, workflow_id)
    reads = await stack.requests(service="stripe", method="GET", path=f"/v1/invoices/{invoice}")
    assert [r["status"] for r in reads[:3]] == [500, 429, 200]
    first, second = gaps(reads[:3])
    assert first >= 0.9  # the retry policy's first backoff (1 s)
    assert second >= 3.9  # Retry-After: 4, not the policy's next backoff (2 s)
    # Nothing was lost to the trouble: the invoice's facts made it into the diagnosis.
    assert "enrich_failed" not in kinds(status)
    assert status.diagnosis is not None and status.diagnosis.branch == "insufficient_funds"
    assert status.diagnosis.facts.get("invoice_status") == "open"


async def test_slack_429_and_500_on_the_alert_are_retried_and_post_it_once(
    stack: LiveStack,
) -> None:
    before = await stack.requests(service="slack", path="/api/chat.postMessage")
    cursor = max((e["id"] for e in before), default=0)
    invoice, workflow_id = await declined_invoice(
        stack,
        {"service": "slack", "path": "/api/chat.postMessage", "status": 429, "retry_after": 3},
        {"service": "slack", "path": "/api/chat.postMessage", "status": 500},
    )
    status = await waiting_for_a_person(stack, workflow_id)
    posts = [
        e
        for e in await stack.requests(
            service="slack", path="/api/chat.postMessage", since_id=cursor
        )
    ]
    assert [(p["status"], p["fault"]) for p in posts[:3]] == [
        (429, True),
        (500, True),
        (200, False),
    ]
    retry_after, backoff = gaps(posts[:3])
    assert retry_after >= 2.9  # Retry-After: 3, where the policy alone would wait 1 s
    assert backoff >= 1.9  # then the policy's doubled backoff
    assert posts[2]["body"]["metadata"]["event_payload"]["key"].startswith(f"{workflow_id}/")
    assert "slack_failed" not in kinds(status)
    alerts = [
        m
        for m in await stack.messages("#gtm-alerts")
        if m.get("thread_ts") in (None, m["ts"]) and f"/{invoice}" in str(m.get("blocks"))
    ]
    assert len(alerts) == 1


async def test_a_failed_first_thread_reply_is_retried_without_a_second_alert(
    stack: LiveStack,
) -> None:
    """The alert and its first thread reply are one activity: Slack refusing the reply retries
    the activity, which finds the alert it posted (by metadata) and posts only the reply. (A
    link the alert shows is not repeated in its thread; a step that failed before the alert
    is: here Stripe refuses the card-update link.)"""
    before = await stack.requests(service="slack", path="/api/chat.postMessage")
    cursor = max((e["id"] for e in before), default=0)
    invoice, workflow_id = await declined_invoice(
        stack,
        # Refused in the investigation, then by the workflow (a 400 is not retried).
        {
            "service": "stripe",
            "method": "POST",
            "path": "/v1/billing_portal/sessions",
            "status": 400,
            "times": 2,
        },
        {"service": "slack", "path": "/api/chat.postMessage", "status": 500, "skip": 1},
    )
    status = await waiting_for_a_person(stack, workflow_id)
    posts = await stack.requests(service="slack", path="/api/chat.postMessage", since_id=cursor)
    keys = [
        (p["status"], p["body"]["metadata"]["event_payload"]["key"].split("/", 2)[2])
        for p in posts
        if p["status"] == 200
        and p["body"]["metadata"]["event_payload"]["key"].startswith(f"{workflow_id}/")
    ]
    assert [p["status"] for p in posts[:3]] == [200, 500, 200]
    assert keys[:2] == [(200, "alert"), (200, "thread/1")]
    assert "slack_failed" not in kinds(status)
    assert status.slack is not None
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")
    replies = await asyncio.to_thread(
        slack.conversations_replies, channel=status.slack.channel, ts=status.slack.ts
    )
    assert [m["ts"] for m in replies["messages"]][0] == status.slack.ts
    assert len(replies["messages"]) == 2, "one alert, one reply: nothing posted twice"
    assert "failed" in replies["messages"][1]["text"]
    assert invoice in str(replies["messages"][0].get("blocks"))


async def test_a_link_the_alert_shows_is_not_repeated_in_its_thread(stack: LiveStack) -> None:
    """The card-update link and the hosted invoice page are in the alert: one post, no reply
    saying they were made; the timeline still records both steps."""
    invoice, workflow_id = await declined_invoice(stack)
    status = await waiting_for_a_person(stack, workflow_id)
    assert status.slack is not None
    done = [e.text for e in status.timeline if e.kind == "step_succeeded"]
    assert any("Card-update link" in text for text in done), done
    alert = next(m for m in await stack.messages("#gtm-alerts") if m["ts"] == status.slack.ts)
    assert "billing_portal" in str(alert.get("blocks")), "the link is in the alert"
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")
    replies = await asyncio.to_thread(
        slack.conversations_replies, channel=status.slack.channel, ts=status.slack.ts
    )
    assert len(replies["messages"]) == 1, "no reply repeating the alert's links"


async def test_a_retried_alert_finds_its_posted_reply_and_posts_nothing(
    stack: LiveStack,
) -> None:
    """An attempt whose alert and reply both reached Slack (its answer was lost) is retried:
    the retry finds both by their metadata, among the channel's messages and the thread's."""
    activities = SlackActivities(stack.services())
    env = ActivityEnvironment()
    key = f"retry-{uuid.uuid4().hex[:8]}"
    message = SlackMessageInput(
        workflow_id=key,
        channel="#gtm-alerts",
        text="Payment failed: Retrying Corp",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Payment failed"}}],
        metadata_key=f"{key}/alert",
        thread_text="`10:00` canary: Hosted invoice page ready for the payer.",
        thread_metadata_key=f"{key}/thread/1",
    )
    first = await env.run(activities.post_slack, message)
    assert first.thread_ts and first.permalink
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")
    asked = await asyncio.to_thread(
        slack.chat_getPermalink, channel=first.channel, message_ts=first.ts
    )
    assert first.permalink == asked["permalink"], "built as Slack builds it"
    before = await stack.requests(service="slack", path="/api/chat.postMessage")
    env.info = dataclasses.replace(env.info, attempt=2)
    again = await env.run(activities.post_slack, message)
    after = await stack.requests(service="slack", path="/api/chat.postMessage")
    assert (again.ts, again.thread_ts, again.permalink) == (
        first.ts,
        first.thread_ts,
        first.permalink,
    )
    assert len(after) == len(before), "the retry posted nothing"
    cursor = max(e["id"] for e in before)
    assert await stack.requests(
        service="slack", path="/api/conversations.replies", since_id=cursor
    ), "the reply was looked for in the thread"


async def test_the_invoice_lookup_reads_its_customer_payments_and_payment_intent(
    stack: LiveStack,
) -> None:
    """Without a decline code in the report, the invoice is read with its customer, its
    payments included (today's Stripe-Version, whose invoices name no payment intent) and their
    payment intents, in one call: the amount, why it was declined and whose account it is."""
    invoice, workflow_id = await declined_invoice(stack)
    await waiting_for_a_person(stack, workflow_id)  # its own Stripe reads are done
    before = await stack.requests(service="stripe")
    cursor = max(e["id"] for e in before)
    detection = Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        message="Invoice payment failed",
        facts={"event_type": "invoice.payment_failed"},
    )
    found = await ActivityEnvironment().run(
        InvestigationActivities(Services(stack.settings)).enrich,
        EnrichInput(detection=detection, enricher="stripe.invoice"),
    )
    assert found.facts["decline_code"] == "insufficient_funds"
    assert found.facts["payment_intent_id"].startswith("pi_")
    assert found.facts["amount_display"] == "$1,500.00"
    assert found.account is not None
    assert found.account.owner_email == OWNER["owner_email"]
    assert found.account.name and found.account.name.startswith("Faulty ")
    assert found.account.stripe_customer_id == found.facts["customer_id"]
    calls = await stack.requests(service="stripe", since_id=cursor)
    assert [(c["method"], c["path"]) for c in calls] == [("GET", f"/v1/invoices/{invoice}")]
    assert calls[0]["query"] == {
        "expand[0]": "customer",
        "expand[1]": "payments.data.payment.payment_intent",
    }
    assert {c["headers"]["stripe-version"] for c in calls} == {STRIPE_API_VERSION}
    customer = await asyncio.to_thread(live_customer, stack, found.account.stripe_customer_id)
    assert found.account.domain == customer["email"].split("@")[1]
    assert "customer_email" not in found.facts  # the domain is kept, the address is not


async def test_salesforce_500_and_429_are_retried(stack: LiveStack) -> None:
    created = await stack.http.post(
        f"{stack.sandbox.url}/services/data/v59.0/sobjects/Opportunity",
        headers={"Authorization": "Bearer 00DSANDBOX!e2e-session"},
        json={
            "Name": f"Fault tolerance {uuid.uuid4().hex[:6]}",
            "CloseDate": "2026-12-31",
            "StageName": "Proposal/Price Quote",
            "Amount": 12000,
        },
    )
    assert created.status_code == 201, created.text
    opportunity = created.json()["id"]
    query = "/services/data/v59.0/query"
    await add_fault(stack, service="salesforce", path=query, status=500)
    await add_fault(stack, service="salesforce", path=query, status=429, retry_after=2)
    accepted = await stack.http.post(
        f"{stack.gateway_url}/api/detections",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        json={
            "type": "stage_mismatch",
            "source": "pandadoc",
            "subject": {"kind": "opportunity", "id": opportunity},
            "message": "Contract signed in PandaDoc",
        },
    )
    assert accepted.status_code == 202, accepted.text
    workflow_id = accepted.json()["workflow_id"]
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.diagnosis is not None,
        timeout=60,
    )
    reads = await stack.requests(service="salesforce", path_prefix=query)
    assert [r["status"] for r in reads[:3]] == [500, 429, 200]
    assert all(gap >= 0.9 for gap in gaps(reads[:3]))
    assert "enrich_failed" not in kinds(status)
    assert status.diagnosis is not None
    assert status.diagnosis.facts.get("opportunity_found") is True


async def test_salesforce_request_limit_and_row_lock_are_retried(stack: LiveStack) -> None:
    """The org's API request limit (403 REQUEST_LIMIT_EXCEEDED) and a record another
    transaction holds (400 UNABLE_TO_LOCK_ROW) pass by themselves: the lookup and the approved
    write are retried with backoff, not recorded as Salesforce's refusal."""
    created = await stack.http.post(
        f"{stack.sandbox.url}/services/data/v59.0/sobjects/Opportunity",
        headers={"Authorization": "Bearer 00DSANDBOX!e2e-session"},
        json={
            "Name": f"Busy org {uuid.uuid4().hex[:6]}",
            "CloseDate": "2026-12-31",
            "StageName": "Negotiation/Review",
            "Amount": 12000,
            "Contract_Signed__c": True,
        },
    )
    assert created.status_code == 201, created.text
    opportunity = created.json()["id"]
    query = "/services/data/v59.0/query"
    record = f"/services/data/v59.0/sobjects/Opportunity/{opportunity}"
    await add_fault(stack, service="salesforce", path=query, status=403)
    await add_fault(
        stack,
        service="salesforce",
        path=record,
        method="PATCH",
        status=400,
        error_code="UNABLE_TO_LOCK_ROW",
    )
    accepted = await stack.http.post(
        f"{stack.gateway_url}/api/detections",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        json={
            "type": "stage_mismatch",
            "source": "pandadoc",
            "subject": {"kind": "opportunity", "id": opportunity},
            "facts": {"signal": "contract_signed"},
            "message": "Contract signed in PandaDoc",
        },
    )
    assert accepted.status_code == 202, accepted.text
    workflow_id = accepted.json()["workflow_id"]
    status = await waiting_for_a_person(stack, workflow_id)
    reads = await stack.requests(service="salesforce", path_prefix=query)
    assert [r["status"] for r in reads[:2]] == [403, 200]
    assert reads[0]["response"] == json.dumps(
        [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    )
    assert gaps(reads[:2])[0] >= 0.9  # the retry policy's first backoff (1 s)
    assert "enrich_failed" not in kinds(status)
    assert status.diagnosis is not None and status.diagnosis.branch == "ready_to_close"

    answer = await take_action(
        stack.client,
        workflow_id,
        ActionRequest(action="approve", user="U0DAN", member_of=["revops"]),
    )
    assert answer.accepted, answer
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.outcome is not None,
        timeout=60,
    )
    assert status.outcome == "resolved_by_human", kinds(status)
    writes = await stack.requests(service="salesforce", method="PATCH", path=record)
    assert [w["status"] for w in writes] == [400, 204]
    assert "UNABLE_TO_LOCK_ROW" in writes[0]["response"]
    assert gaps(writes)[0] >= 1.9  # the step policy's first backoff (2 s)
    assert "step_failed" not in kinds(status)


async def test_a_failed_opportunity_lookup_says_so_and_offers_no_approval(
    stack: LiveStack,
) -> None:
    """Salesforce refuses the lookup for good: the alert says Canary could not check, the
    thread says why, and no "Mark Closed Won" is offered on a stage and amount nobody read."""
    created = await stack.http.post(
        f"{stack.sandbox.url}/services/data/v59.0/sobjects/Opportunity",
        headers={"Authorization": "Bearer 00DSANDBOX!e2e-session"},
        json={
            "Name": f"Unreadable {uuid.uuid4().hex[:6]}",
            "CloseDate": "2026-12-31",
            "StageName": "Negotiation/Review",
            "Contract_Signed__c": True,
        },
    )
    assert created.status_code == 201, created.text
    opportunity = created.json()["id"]
    await add_fault(
        stack,
        service="salesforce",
        path="/services/data/v59.0/query",
        status=403,
        error_code="INSUFFICIENT_ACCESS_OR_READONLY",
        times=None,
    )
    accepted = await stack.http.post(
        f"{stack.gateway_url}/api/detections",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        json={
            "type": "stage_mismatch",
            "source": "pandadoc",
            "subject": {"kind": "opportunity", "id": opportunity},
            "facts": {"signal": "contract_signed"},
            "message": "Contract signed in PandaDoc",
        },
    )
    assert accepted.status_code == 202, accepted.text
    workflow_id = accepted.json()["workflow_id"]
    status = await waiting_for_a_person(stack, workflow_id)
    assert status.diagnosis is not None and status.diagnosis.branch == "lookup_failed"
    failed = [e.text for e in status.timeline if e.kind == "enrich_failed"]
    assert failed == ["Could not look up salesforce.opportunity: salesforce: Sandbox fault"]

    messages = await stack.messages("#gtm-alerts")
    assert status.slack is not None
    alert = next(m for m in messages if m["ts"] == status.slack.ts)
    shown = json.dumps(alert["blocks"])
    assert f"Could not check opportunity {opportunity} in Salesforce" in shown
    assert "could not check it in Salesforce" in shown and "(unknown)" not in shown
    buttons = [
        e["action_id"]
        for b in alert["blocks"]
        for e in b.get("elements", [])
        if e.get("type") == "button"
    ]
    assert buttons == ["canary:resolve", "canary:snooze", "canary:dismiss", "canary:note"]
    replies = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda found: any(
            m.get("thread_ts") == alert["ts"]
            and m["ts"] != alert["ts"]
            and "Could not look up salesforce.opportunity" in str(m)
            for m in found
        ),
        timeout=30,
    )
    assert replies
    refused = await take_action(
        stack.client,
        workflow_id,
        ActionRequest(action="approve", user="U0DAN", member_of=["revops"]),
    )
    assert not refused.accepted
    assert not await stack.requests(service="salesforce", method="PATCH")


async def test_malformed_answers_are_retried_not_taken_as_refusals(stack: LiveStack) -> None:
    invoice, workflow_id = await declined_invoice(
        stack,
        {"service": "stripe", "method": "GET", "path": "/v1/invoices/{invoice}", "malformed": True},
        {"service": "slack", "path": "/api/chat.postMessage", "malformed": True},
    )
    status = await waiting_for_a_person(stack, workflow_id)
    reads = await stack.requests(
        service="stripe", method="GET", path_prefix=f"/v1/invoices/{invoice}"
    )
    assert [r["status"] for r in reads[:2]] == [200, 200]
    assert [r["fault"] for r in reads[:2]] == [True, False]
    assert "enrich_failed" not in kinds(status)
    assert status.owner == "alice@acme-gtm.example"  # read from the customer on the retry
    # Slack's answer to the alert came back garbled: a failure to retry, not a refusal.
    posts = [
        p
        for p in await stack.requests(service="slack", path="/api/chat.postMessage")
        if p["fault"]
        or str(
            (p["body"].get("metadata") or {}).get("event_payload", {}).get("key", "")
        ).startswith(f"{workflow_id}/")
    ]
    assert [p["fault"] for p in posts[:2]] == [True, False]
    assert "slack_failed" not in kinds(status)
    assert status.slack is not None and status.slack.permalink
    alerts = [
        m
        for m in await stack.messages("#gtm-alerts")
        if m.get("thread_ts") in (None, m["ts"]) and f"/{invoice}" in str(m.get("blocks"))
    ]
    assert len(alerts) == 1


async def test_a_step_that_times_out_is_retried_under_the_same_key(stack: LiveStack) -> None:
    # The card-update link takes 5 s to come back, the step may take 2: Temporal retries it,
    # with the same idempotency key, and the slow first call turns into a replay.
    invoice, workflow_id = await declined_invoice(
        stack,
        {
            "service": "stripe",
            "method": "POST",
            "path": "/v1/billing_portal/sessions",
            "delay": 5,
            "passthrough": True,
        },
    )
    status = await waiting_for_a_person(stack, workflow_id)
    sessions = await eventually(
        lambda: stack.requests(service="stripe", path="/v1/billing_portal/sessions"),
        lambda found: len(found) >= 2,
        timeout=30,
    )
    keys = {s["idempotency_key"] for s in sessions}
    assert len(keys) == 1 and next(iter(keys)).startswith(f"canary/{workflow_id}/")
    url = sessions[0]["response"]["url"]
    assert {s["response"]["url"] for s in sessions} == {url}, "one session, replayed"
    done = [e.data.get("step") for e in status.timeline if e.kind == "step_succeeded"]
    assert "card-update-link" in done
    alert = next(m for m in await stack.messages("#gtm-alerts") if m["ts"] == status.slack.ts)
    assert url in str(alert["blocks"])


# -- permanent refusals: not retried, recorded, a person decides -------------------------------


async def test_permanent_refusals_are_not_retried_and_are_put_to_a_person(
    stack: LiveStack,
) -> None:
    invoice, workflow_id = await declined_invoice(
        stack,
        {"service": "stripe", "method": "GET", "path": "/v1/invoices/{invoice}", "status": 400},
    )
    status = await waiting_for_a_person(stack, workflow_id)
    reads = await stack.requests(service="stripe", method="GET", path=f"/v1/invoices/{invoice}")
    # The lookup's 400 is not retried. The 200 is the payer-link step reading the invoice
    # itself afterwards, since the lookup brought no hosted-invoice URL — unless Stripe's
    # invoice.payment_failed webhook, which carries that URL, reached the remediation first.
    statuses = [r["status"] for r in reads]
    assert statuses[0] == 400 and statuses[1:] in ([], [200]), statuses
    failed = [e for e in status.timeline if e.kind == "enrich_failed"]
    assert len(failed) == 1 and "stripe.invoice" in failed[0].text
    done = [e.data.get("step") for e in status.timeline if e.kind == "step_succeeded"]
    assert "payer-link" in done

    # A person retries while the card still declines: one call, the decline on the record,
    # the remediation still open and the alert saying so.
    result = await take_action(
        stack.client, workflow_id, ActionRequest(action="retry", user="ops", source="cli")
    )
    assert result.accepted
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and "step_failed" in kinds(s),
    )
    pays = [
        p
        for p in await stack.requests(
            service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay"
        )
        if (p["idempotency_key"] or "").startswith("canary/")
    ]
    assert [p["status"] for p in pays] == [402]
    declined = next(e for e in status.timeline if e.kind == "step_failed")
    assert "insufficient_funds" in declined.text
    assert status.state == "awaiting_human" and status.outcome is None
    alert = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: any(
            f"/{invoice}" in str(m.get("blocks")) and "declined" in str(m.get("blocks"))
            for m in ms
            if m.get("thread_ts") in (None, m["ts"])
        ),
    )
    assert alert


# -- the adapters' reading of Stripe's answers ---------------------------------------------------


def test_stripe_answers_map_to_retry_or_refusal() -> None:
    in_flight = stripe.IdempotencyError(
        "another request with this key is in progress", http_status=409
    )
    reused = stripe.IdempotencyError("key reused with other parameters", http_status=400)
    unreadable = stripe.APIError('Invalid response body from API: {"trunc', http_status=200)
    assert isinstance(_translate(in_flight), TransientError)
    assert isinstance(_translate(reused), PermanentError)
    assert isinstance(_translate(unreadable), TransientError)
    assert isinstance(
        _translate(stripe.InvalidRequestError("No such invoice", "id", http_status=404)),
        PermanentError,
    )
