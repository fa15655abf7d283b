"""The whole story through the real SDKs: Stripe declines → signed webhook → gateway →
workflow → Slack message with buttons → a signed click → retry → resolved; every outside
call asserted on what the sandbox recorded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from workflows import remediation_id


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as live:
        yield live


def alert_for(messages: list[dict[str, Any]], workflow_id: str) -> dict[str, Any] | None:
    for message in messages:
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("value") == workflow_id:
                    return message
            if workflow_id in str(block):
                return message
    return None


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


async def test_insufficient_funds_retried_from_the_chat_page(stack: LiveStack) -> None:
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[0])
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human" and s.slack is not None,
        timeout=30,
    )
    assert status.diagnosis and status.diagnosis.branch == "insufficient_funds"
    assert status.owner == "alice@acme-gtm.example"

    message = await eventually(
        lambda: stack.messages("#gtm-alerts"), lambda ms: alert_for(ms, workflow_id) is not None
    )
    alert = alert_for(message, workflow_id)
    assert alert is not None and has_buttons(alert)
    text = str(alert["blocks"])
    assert "What happened" in text and "Where to investigate" in text and "What to do" in text
    assert "<@U0ALICE>" in text  # the owner, found in Slack by e-mail
    assert f"/invoices/{invoice}" in text and "/hosted/invoices/" in text
    buttons = [e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["action_id"] for b in buttons} >= {
        "canary:retry",
        "canary:resolve",
        "canary:dismiss",
        "canary:snooze",
    }
    assert all(b["value"] == workflow_id for b in buttons)

    # Alice retries at once: still insufficient funds. She is told, the case stays open.
    click = await stack.click("U0ALICE", alert, "canary:retry")
    assert click["status"] == 200
    # Counted as the retry starts: wait for its answer too, or the card chosen below can
    # reach Stripe before this retry's charge does (and pay it, as Alice's).
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: (
            s is not None
            and s.attempts == 1
            and any(e.kind == "step_failed" and e.actor == "U0ALICE" for e in s.timeline)
        ),
    )
    assert status.state == "awaiting_human"

    # The payer opens the card-update link from the message and picks a working card: Stripe
    # says the default card changed, and Canary retries on it by itself, with nobody clicking.
    latest = alert_for(await stack.messages("#gtm-alerts"), workflow_id) or alert
    portal = re.search(r"(http://[^|>]+/billing_portal/sessions/bps_\w+)", str(latest["blocks"]))
    assert portal, "the message carries the card-update (billing portal) link"
    page = await stack.http.get(portal.group(1))
    assert page.status_code == 200 and "Update payment method" in page.text
    chosen = await stack.http.post(
        f"{portal.group(1)}/payment_method",
        data={"payment_method": "pm_card_visa"},
        follow_redirects=True,
    )
    assert "ending 4242" in chosen.text
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
        timeout=30,
    )
    assert status.outcome == "auto_resolved" and status.recovered_by == "card_update_retry"

    # What Stripe saw: two pay calls, each with its own key derived from the workflow.
    pays = await stack.requests(service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay")
    keys = [p["idempotency_key"] for p in pays if p["idempotency_key"]]
    canary_keys = [k for k in keys if k.startswith(f"canary/{workflow_id}/")]
    assert len(set(canary_keys)) == 2
    assert [p["status"] for p in pays if p["idempotency_key"] in canary_keys] == [402, 200]
    invoice_now = stack.stripe.v1.invoices.retrieve(invoice)
    assert invoice_now.status == "paid"

    # What Slack saw: the alert updated in place, without buttons, saying how it was fixed.
    final = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: not has_buttons(alert_for(ms, workflow_id) or alert),
    )
    final_alert = alert_for(final, workflow_id)
    assert final_alert and "fixed automatically by Canary" in str(final_alert["blocks"])
    updates = await stack.requests(service="slack", path="/api/chat.update")
    assert any(u["body"].get("ts") == alert["ts"] for u in updates)


async def test_paying_on_the_hosted_page_resolves_externally(stack: LiveStack) -> None:
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[1])
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
        timeout=30,
    )
    assert status.diagnosis and status.diagnosis.branch == "card_needs_update"
    # No automatic retry for an expired card; a card-update link instead.
    assert not await stack.requests(
        service="stripe",
        method="POST",
        path=f"/v1/invoices/{invoice}/pay",
    ) or all(
        not (r["idempotency_key"] or "").startswith("canary/")
        for r in await stack.requests(
            service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay"
        )
    )
    portal = await stack.requests(
        service="stripe", method="POST", path="/v1/billing_portal/sessions"
    )
    assert any((r["idempotency_key"] or "").startswith(f"canary/{workflow_id}/") for r in portal)

    response = await stack.http.post(
        f"{stack.sandbox.url}/hosted/invoices/{invoice}/pay",
        data={"payment_method": "pm_card_visa"},
    )
    assert response.status_code in (200, 303)
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
        timeout=30,
    )
    assert status.outcome == "resolved_externally"
    closed = [e for e in status.timeline if e.kind == "closed"][0]
    assert closed.data["evidence"]["id"] == invoice


async def test_forged_click_is_refused(stack: LiveStack) -> None:
    import json
    import time

    from tests.helpers import slack_headers

    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB"},
        "actions": [
            {
                "action_id": "canary:dismiss",
                "value": "payment_failed:invoice:in_x",
                "type": "button",
                "block_id": "b",
            }
        ],
    }
    body = f"payload={json.dumps(payload)}".encode()
    forged = await stack.http.post(
        f"{stack.gateway_url}/slack/actions",
        content=body,
        headers=slack_headers(body, "not-the-secret"),
    )
    assert forged.status_code == 401
    stale = await stack.http.post(
        f"{stack.gateway_url}/slack/actions",
        content=body,
        headers=slack_headers(body, "e2e-slack-signing-secret", int(time.time()) - 3600),
    )
    assert stale.status_code == 401


async def test_a_dismissal_from_the_chat_page_asks_why_and_the_alert_says_it(
    stack: LiveStack,
) -> None:
    """As a person on the chat page: Dismiss opens Canary's form (a Slack modal), submitting
    it empty is refused by Slack's client, with a reason it closes the remediation, and the
    alert becomes the record: dismissed, by whom, when and why."""
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[1])  # Initech, expired card
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    messages = await eventually(
        lambda: stack.messages("#gtm-alerts"), lambda ms: alert_for(ms, workflow_id) is not None
    )
    alert = alert_for(messages, workflow_id)
    assert alert is not None
    element = next(
        e
        for b in alert["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "canary:dismiss"
    )
    page = stack.sandbox.url
    clicked = await stack.http.post(
        f"{page}/_sandbox/slack/click",
        data={
            "user": "U0ALICE",
            "channel": alert["channel"],
            "ts": alert["ts"],
            "action_id": "canary:dismiss",
            "value": element["value"],
        },
    )
    assert clicked.status_code == 303 and "err=1" not in clicked.headers["location"]
    shown = await eventually(
        lambda: stack.http.get(f"{page}/?channel=gtm-alerts&as=U0ALICE"),
        lambda r: 'class="modal"' in r.text,
    )
    assert "Why dismiss it?" in shown.text and "Written off" in shown.text
    view_id = re.search(r'data-view-id="(V\w+)"', shown.text)
    assert view_id
    empty = await stack.http.post(
        f"{page}/_sandbox/slack/views/page",
        data={"user": "U0ALICE", "view_id": view_id.group(1), "channel": "gtm-alerts"},
    )
    assert "err=1" in empty.headers["location"]  # the gateway asked for a reason
    done = await stack.http.post(
        f"{page}/_sandbox/slack/views/page",
        data={
            "user": "U0ALICE",
            "view_id": view_id.group(1),
            "channel": "gtm-alerts",
            "v.reason_text": "Customer moved to annual invoicing",
        },
    )
    assert "err=1" not in done.headers["location"], done.headers["location"]
    status = await eventually(
        lambda: get_status(stack.client, workflow_id), lambda s: s is not None and s.outcome
    )
    assert status.outcome == "dismissed"
    assert status.close_reason == "Customer moved to annual invoicing"
    final = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: "Customer moved to annual invoicing" in str(alert_for(ms, workflow_id)),
    )
    record = str(alert_for(final, workflow_id))
    assert "dismissed by <@U0ALICE>" in record and "What to do" not in record
    after = await stack.http.get(f"{page}/?channel=gtm-alerts&as=U0ALICE")
    assert 'class="modal"' not in after.text
