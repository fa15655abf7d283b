"""The payment_failed alert's "Send the payer the link", pressed in Slack on a live stack:
the payer gets one e-mail with the invoice page and a card-update link, the timeline says to
whom (masked), and a second press the same day is refused with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from canary.models import RemediationStatus
from sandbox.smtp import SmtpSink
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from tests.workflow.test_end_to_end import alert_for
from workflows import remediation_id

pytestmark = pytest.mark.asyncio
PAYER = CUSTOMERS[0]["email"]


@pytest.fixture
async def mailed_stack(dev_env: WorkflowEnvironment) -> AsyncIterator[tuple[LiveStack, SmtpSink]]:
    with SmtpSink() as sink:
        async with live_stack(
            dev_env.client,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_starttls=False,
            smtp_from="billing@acme-gtm.example",
        ) as live:
            yield live, sink


def step_lines(status: RemediationStatus | None, step: str) -> list[str]:
    if status is None:
        return []
    return [
        e.text for e in status.timeline if e.data.get("step") == step and e.kind != "step_started"
    ]


async def test_send_the_payer_the_link_once_a_day(
    mailed_stack: tuple[LiveStack, SmtpSink],
) -> None:
    stack, sink = mailed_stack
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[0])
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    alert = await eventually(
        lambda: stack.messages("#gtm-alerts"), lambda ms: alert_for(ms, workflow_id) is not None
    )
    message = alert_for(alert, workflow_id)
    assert message is not None

    await stack.click("U0ALICE", message, "canary:send_link")
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: len(step_lines(s, "payer-link-email")) == 1,
        timeout=30,
    )
    [sent] = step_lines(status, "payer-link-email")
    assert "Sent e-mail payment_link" in sent and "a***@globex.example" in sent
    [mail] = [m for m in sink.messages if m.rcpt_tos == [PAYER]]
    hosted = stack.stripe.v1.invoices.retrieve(invoice).hosted_invoice_url
    assert f"Pay now: {hosted}" in mail.text and "/billing_portal/sessions/bps_" in mail.text
    assert status is not None and all(PAYER not in e.text for e in status.timeline)

    # Pressed again the same day: refused, with when it may go out again; nothing is sent.
    await stack.click("U0ALICE", message, "canary:send_link")
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: len(step_lines(s, "payer-link-email")) == 2,
        timeout=30,
    )
    refused = step_lines(status, "payer-link-email")[-1]
    assert "at most once every 24 hours" in refused
    assert len([m for m in sink.messages if m.rcpt_tos == [PAYER]]) == 1
    assert status is not None and status.state == "awaiting_human"
