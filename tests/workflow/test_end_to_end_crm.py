"""Salesforce-backed remediations end to end: a paid deal that is not Closed Won, a validation
rule that says no, an unlinked product account picked from a Slack select, who may press which
button, and a recurring unknown error — asserted on what the sandbox's Salesforce and Slack saw."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sandbox.salesforce import SEED_IDS
from starter.intake import get_status
from tests.helpers import eventually
from tests.stack import API_TOKEN, LiveStack, live_stack
from tests.workflow.test_end_to_end import alert_for, has_buttons
from workflows import remediation_id


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, admins=["U0ERIN"]) as live:
        yield live


async def detect(stack: LiveStack, body: dict[str, Any]) -> str:
    response = await stack.http.post(
        f"{stack.gateway_url}/api/detections",
        json=body,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["workflow_id"])


async def alert(
    stack: LiveStack, workflow_id: str, channel: str = "#gtm-alerts", buttons: bool = True
) -> dict[str, Any]:
    messages = await eventually(
        lambda: stack.messages(channel),
        lambda ms: (
            (found := alert_for(ms, workflow_id)) is not None and has_buttons(found) == buttons
        ),
        timeout=30,
    )
    found = alert_for(messages, workflow_id)
    assert found is not None
    return found


async def opportunity(stack: LiveStack, handle: str) -> dict[str, Any]:
    rows = await stack.sandbox_get("/_sandbox/salesforce/records/Opportunity")
    return next(r for r in rows if r["Id"] == SEED_IDS[handle])


async def test_paid_deal_is_marked_closed_won_by_its_owner(stack: LiveStack) -> None:
    # Globex pays its annual invoice, which names the opportunity it pays for.
    client = stack.stripe
    customer = "cus_SbxGlobex000001"
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    invoice = client.v1.invoices.create(
        params={
            "customer": customer,
            "default_payment_method": pm.id,
            "metadata": {"salesforce_opportunity_id": SEED_IDS["opp_globex_enterprise"]},
        }
    )
    assert invoice.id
    client.v1.invoice_items.create(
        params={
            "customer": customer,
            "invoice": invoice.id,
            "amount": 4_800_000,
            "currency": "usd",
            "description": "Enterprise annual",
        }
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id)

    workflow_id = remediation_id("stage_mismatch", "opportunity", SEED_IDS["opp_globex_enterprise"])
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
        timeout=30,
    )
    assert status.diagnosis and status.diagnosis.branch == "ready_to_close"
    assert status.owner == "alice@acme-gtm.example"
    message = await alert(stack, workflow_id)
    text = str(message["blocks"])
    assert "Negotiation/Review" in text and "<@U0ALICE>" in text
    assert f"/lightning/r/Opportunity/{SEED_IDS['opp_globex_enterprise']}/view" in text

    # Bob is neither the owner nor in @revops: refused, told why, recorded, not executed.
    refused = await stack.click("U0BOB", message, "canary:approve")
    assert refused["status"] == 200
    ephemeral = await eventually(
        lambda: stack.sandbox_get("/_sandbox/slack/ephemeral", user="U0BOB"),
        lambda es: any("may press Mark Closed Won here" in e["text"] for e in es),
    )
    assert any("owner" in e["text"] for e in ephemeral)
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and any(e.kind == "action_refused" for e in s.timeline),
    )
    assert (await opportunity(stack, "opp_globex_enterprise"))["StageName"] != "Closed Won"

    # Alice (the owner) and Dan (@revops) approve at the same moment: the stage is written
    # once, read back, and the case closes; both clicks are answered.
    clicks = await asyncio.gather(
        stack.click("U0ALICE", message, "canary:approve"),
        stack.click("U0DAN", message, "canary:approve"),
    )
    assert [c["status"] for c in clicks] == [200, 200]
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
        timeout=30,
    )
    assert status.outcome == "resolved_by_human"
    assert (await opportunity(stack, "opp_globex_enterprise"))["StageName"] == "Closed Won"
    patches = await stack.requests(service="salesforce", method="PATCH")
    written = [p for p in patches if SEED_IDS["opp_globex_enterprise"] in p["path"]]
    assert [p["body"] for p in written] == [{"StageName": "Closed Won"}]
    final = await alert(stack, workflow_id, buttons=False)
    assert "resolved by a person" in str(final["blocks"])
    # Whoever came second is told it is already done, not shown an error: by the update's
    # handler ("Already resolved…") when both were admitted before the fix ran, or by its
    # validator ("This remediation is already resolved…") when the second arrived after
    # (Dan's click is sent again once his groups are read, so it often arrives after).
    told = await eventually(
        lambda: stack.sandbox_get("/_sandbox/slack/ephemeral"),
        lambda es: any(
            "already resolved" in e["text"].lower() and e["user"] in ("U0ALICE", "U0DAN")
            for e in es
        ),
    )
    assert told


async def test_validation_rule_refusal_is_shown_and_waits(stack: LiveStack) -> None:
    # Wayne's pilot contract is not signed in Salesforce; a validation rule guards Closed Won.
    opp = SEED_IDS["opp_wayne_pilot"]
    workflow_id = await detect(
        stack,
        {
            "type": "stage_mismatch",
            "source": "pandadoc",
            "subject": {"kind": "opportunity", "id": opp},
            "message": "Contract signed in PandaDoc",
            "facts": {"evidence_text": "PandaDoc says the pilot contract was signed"},
        },
    )
    assert workflow_id == remediation_id("stage_mismatch", "opportunity", opp)
    await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
        timeout=30,
    )
    message = await alert(stack, workflow_id)
    # Gina owns the deal but has no Slack account: the channel is asked instead.
    assert "<!here> *Gina" in str(message["blocks"])
    # Dan is in @revops, so he may approve even though Gina owns the deal.
    await stack.click("U0DAN", message, "canary:approve")
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and any("Salesforce refused" in e.text for e in s.timeline),
        timeout=30,
    )
    assert status.state in ("awaiting_human", "escalated") and status.outcome is None
    refusal = next(e.text for e in status.timeline if "Salesforce refused" in e.text)
    assert "contract" in refusal.lower()
    # The timeline records the refusal first; the alert is edited (or answered in its
    # thread) right after, so wait for Slack to show it too.
    await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: "Salesforce refused" in str(ms),
        timeout=30,
    )
    assert (await opportunity(stack, "opp_wayne_pilot"))["StageName"] != "Closed Won"


async def test_unlinked_account_is_linked_from_a_select(stack: LiveStack) -> None:
    workflow_id = await detect(
        stack,
        {
            "source": "product",
            "subject": {"kind": "app_account", "id": "app_hooli_labs"},
            "account": {"name": "Hooli Labs", "domain": "hooli.example"},
            "message": "New workspace without a CRM account",
        },
    )
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
        timeout=30,
    )
    assert status.error_type == "account_unlinked"
    assert status.diagnosis and status.diagnosis.branch == "several_candidates"
    message = await alert(stack, workflow_id)
    selects = [
        e
        for b in message["blocks"]
        for e in (b.get("elements") or []) + ([b["accessory"]] if "accessory" in b else [])
        if e.get("type") == "static_select"
    ]
    assert selects, "several candidates are offered as a select"
    options = {o["value"]: o["text"]["text"] for o in selects[0]["options"]}
    assert SEED_IDS["hooli"] in options and SEED_IDS["hooli_europe"] in options
    await stack.click("U0DAN", message, selects[0]["action_id"], selected=SEED_IDS["hooli"])
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
        timeout=30,
    )
    accounts = await stack.sandbox_get("/_sandbox/salesforce/records/Account")
    hooli = next(a for a in accounts if a["Id"] == SEED_IDS["hooli"])
    assert hooli["App_Account_Id__c"] == "app_hooli_labs"


async def test_recurring_unknown_error_asks_for_an_sop(stack: LiveStack) -> None:
    ids = []
    for run in range(3):
        ids.append(
            await detect(
                stack,
                {
                    "source": "workato",
                    "subject": {"kind": "recipe_job", "id": f"job-{run}-7731"},
                    "message": "Recipe 'Sync invoices' failed: NetSuite timeout after 30s "
                    f"(job {run})",
                },
            )
        )
        await eventually(
            lambda wid=ids[-1]: get_status(stack.client, wid),
            lambda s: s is not None and s.state == "awaiting_human",
            timeout=30,
        )
    third = await get_status(stack.client, ids[-1])
    assert third and third.diagnosis
    assert third.diagnosis.branch == "recurring_unknown"
    message = await alert(stack, ids[-1])
    assert "Seen 3 times this week" in str(message["blocks"])
    first = await get_status(stack.client, ids[0])
    assert first and first.diagnosis and first.diagnosis.branch == "general_error"
    assert "NetSuite timeout" in str((await alert(stack, ids[0]))["blocks"])
