"""The ``stripe.dunning_email`` step against the sandbox's Stripe and its SMTP sink: what the
payer receives, once per attempt, at most once a day from the button, never when Stripe says
do not contact."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from temporalio.testing import ActivityEnvironment

from activities import Services
from activities.dunning import ledger_key, ledger_value
from activities.steps import StepActivities
from canary.catalog import load_catalog
from canary.models import Detection, Step, StepInput, StepOutput
from canary.models.detection import Subject
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from sandbox.smtp import ReceivedMail, SmtpSink

KEY = "sk_test_dunning"
COMPANY = 'Bobby <script>alert("x")</script> & Sons'
ADDRESS = "ap@bobby.example"
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as started:
        yield started


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


@pytest.fixture
def steps(sandbox: SandboxServer, sink: SmtpSink) -> StepActivities:
    settings = Settings(
        stripe_api_key=KEY,
        stripe_api_base=sandbox.url,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_starttls=False,
        smtp_from="billing@acme-gtm.example",
    )
    return StepActivities(Services(settings))


def declined_invoice(client: stripe.StripeClient, metadata: dict[str, str] | None = None) -> str:
    customer = client.v1.customers.create(
        params={
            "name": COMPANY,
            "email": ADDRESS,
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "metadata": metadata or {},
        }
    )
    [method] = client.v1.customers.payment_methods.list(customer.id).data
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "default_payment_method": method.id}
    )
    assert invoice.id
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 123456, "currency": "usd"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    return invoice.id


def request(invoice: str, step: Step, attempt: int = 1) -> StepInput:
    # The workflow's attempt key: remediation, step, run of the step.
    key = f"payment_failed:invoice:{invoice}/{step.id}/{attempt}"
    return StepInput(
        workflow_id=f"payment_failed:invoice:{invoice}",
        step=step,
        attempt_key=key,
        detection=Detection(
            type="payment_failed",
            source="stripe",
            subject=Subject(kind="invoice", id=invoice),
            message="Your card has insufficient funds.",
        ),
    )


def button_step() -> Step:
    payment_failed = CATALOG.get("payment_failed")
    assert payment_failed is not None
    [action] = [a for a in payment_failed.actions if a.id == "send_link"]
    assert action.label == "Send the payer the link"
    assert action.allowed.owner and action.allowed.groups == ["revops"]
    [step] = action.steps
    return step


def scheduled_step() -> Step:
    return Step(
        id="dunning-first-notice",
        action="stripe.dunning_email",
        title="E-mail the payer the first notice",
        params={"email": "first_notice"},
    )


async def run(steps: StepActivities, step_input: StepInput) -> StepOutput:
    return await ActivityEnvironment().run(steps.run_step, step_input)


def to_payer(sink: SmtpSink) -> list[ReceivedMail]:
    return [m for m in sink.messages if m.rcpt_tos == [ADDRESS]]


async def test_the_payer_gets_the_links_once_when_the_step_is_retried(
    client: stripe.StripeClient, steps: StepActivities, sink: SmtpSink
) -> None:
    invoice_id = declined_invoice(client)
    invoice = client.v1.invoices.retrieve(invoice_id)
    step_input = request(invoice_id, scheduled_step())

    first = await run(steps, step_input)
    again = await run(steps, step_input)  # the same attempt, retried

    assert first.ok and again.ok
    [mail] = to_payer(sink)
    assert mail.subject.strip() == (
        f"Your payment of $1,234.56 for invoice {invoice.number} did not go through"
    )
    assert mail.mail_from == "billing@acme-gtm.example"
    # The links: the invoice's hosted page, and a billing-portal session of its customer.
    assert f"Pay now: {invoice.hosted_invoice_url}" in mail.text
    assert "/billing_portal/sessions/bps_" in mail.text
    assert f'href="{invoice.hosted_invoice_url}"' in (mail.html or "")
    # The company's name is text in the HTML body, never markup; as is in the text body.
    assert html.escape(COMPANY, quote=True) in (mail.html or "")
    assert "<script>" not in (mail.html or "")
    assert f"Hello {COMPANY}," in mail.text
    # The timeline shows whom, masked; the retry says it was sent already.
    assert "a***@bobby.example" in first.text and ADDRESS not in first.text
    assert "first_notice" in first.text
    assert "already sent" in again.text and ADDRESS not in again.text
    # Stripe keeps the ledger on the invoice.
    marked = client.v1.invoices.retrieve(invoice_id).metadata or {}
    assert ledger_key("first_notice") in marked


async def test_the_button_sends_at_most_once_a_day(
    client: stripe.StripeClient, steps: StepActivities, sink: SmtpSink
) -> None:
    invoice_id = declined_invoice(client)
    step = button_step()

    first = await run(steps, request(invoice_id, step, attempt=1))
    second = await run(steps, request(invoice_id, step, attempt=2))  # pressed again

    assert first.ok
    assert not second.ok and second.error_code == "sent_recently"
    assert "at most once every 24 hours" in second.text
    [mail] = to_payer(sink)
    assert mail.subject.strip().startswith("Invoice ") and "pay $1,234.56" in mail.subject

    # A day later (the ledger says the last one went out 25 hours ago), it sends again.
    earlier = datetime.now(UTC) - timedelta(hours=25)
    client.v1.invoices.update(
        invoice_id,
        params={"metadata": {ledger_key("payment_link"): ledger_value(earlier, "earlier")}},
    )
    third = await run(steps, request(invoice_id, step, attempt=3))
    assert third.ok, third.text
    assert len(to_payer(sink)) == 2


async def test_a_customer_marked_do_not_contact_gets_nothing(
    client: stripe.StripeClient, steps: StepActivities, sink: SmtpSink
) -> None:
    invoice_id = declined_invoice(client, metadata={"do_not_contact": "true"})

    result = await run(steps, request(invoice_id, scheduled_step()))

    assert not result.ok and result.error_code == "do_not_contact"
    assert "do not contact" in result.text
    assert to_payer(sink) == []
    assert ledger_key("first_notice") not in (
        client.v1.invoices.retrieve(invoice_id).metadata or {}
    )


async def test_a_paid_invoice_is_not_dunned(
    client: stripe.StripeClient, steps: StepActivities, sink: SmtpSink
) -> None:
    invoice_id = declined_invoice(client)
    invoice = client.v1.invoices.retrieve(invoice_id)
    client.v1.customers.update(str(invoice.customer), params={"email": ADDRESS})
    client.v1.invoices.pay(invoice_id, params={"payment_method": "pm_card_visa"})

    result = await run(steps, request(invoice_id, scheduled_step()))

    assert not result.ok and result.error_code == "invoice_paid"
    assert to_payer(sink) == []
