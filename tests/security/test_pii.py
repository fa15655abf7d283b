"""Customer data from Stripe stays out of Temporal, and Stripe's modes and delivery order cannot
make Canary act (issue 14, finding 7 and "Stripe").

Signed events built from Stripe's own fixture objects (``stripe_fixtures.json``, an extract of
stripe/openapi's fixtures3.json) carry a customer's e-mail, phone, address, card last 4,
expiry and fingerprint everywhere Stripe puts them: on the invoice, its expanded charge and
payment intent, the payment method in ``last_payment_error`` and the charge's billing details.
They go through the gateway to a real dev server and worker; the remediation's history, every
payload decoded, must hold none of them, while the alert still shows what Canary shows.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from canary.models.remediation import OPEN_STATES
from canary.settings import Settings
from starter.gateway.app import create_app
from starter.intake import get_status
from starter.stripe_events import expected_livemode
from tests.helpers import eventually, payload_data, stripe_signature
from tests.stack import API_TOKEN, WEBHOOK_SECRET, LiveStack, live_stack
from workflows import remediation_id

FIXTURES: dict[str, Any] = json.loads(
    (Path(__file__).with_name("stripe_fixtures.json")).read_text()
)["resources"]
PAYMENT_METHOD = FIXTURES["payment_method"]
BILLING = PAYMENT_METHOD["billing_details"]
CARD = PAYMENT_METHOD["card"]

#: What must never reach Temporal, as the fixture spells it.
EMAIL = BILLING["email"]
PHONE = BILLING["phone"]
ADDRESS_LINE = BILLING["address"]["line1"]
POSTAL_CODE = BILLING["address"]["postal_code"]
LAST4 = CARD["last4"]
FINGERPRINT = CARD["fingerprint"]
EXP_MONTH, EXP_YEAR = CARD["exp_month"], CARD["exp_year"]
#: Keys whose presence alone means card or contact details were kept.
CARD_KEYS = (
    "last4",
    "fingerprint",
    "exp_month",
    "exp_year",
    "billing_details",
    "customer_address",
    "customer_phone",
    "customer_shipping",
    "postal_code",
    "line1",
)

DECLINE_MESSAGE = "Your card was declined."
AMOUNT = 1_234_500  # $12,345.00: no digits of the card's in it


def test_the_fixture_carries_the_details_this_file_looks_for() -> None:
    assert EMAIL and PHONE and ADDRESS_LINE and POSTAL_CODE and LAST4 and FINGERPRINT
    assert EXP_MONTH and EXP_YEAR


# -- events as Stripe sends them, from the fixture objects --------------------------------------


def _event(kind: str, obj: dict[str, Any], livemode: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(FIXTURES["event"])
    event.update(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "type": kind,
            "created": int(time.time()),
            "livemode": livemode,
            "api_version": "2024-06-20",
            "data": {"object": obj},
        }
    )
    return event


def failure_events(invoice: dict[str, Any], livemode: bool = False) -> list[dict[str, Any]]:
    """The three events of one declined attempt on ``invoice`` (a sandbox invoice), each with
    the fixture's personal details wherever Stripe would put them."""
    customer = invoice["customer"]
    address = copy.deepcopy(BILLING["address"])
    shipping = {
        "address": address,
        "name": "Jenny Rosen",
        "phone": PHONE,
        "carrier": None,
        "tracking_number": None,
    }
    payment_method = {**copy.deepcopy(PAYMENT_METHOD), "customer": customer}
    charge = copy.deepcopy(FIXTURES["charge"])
    charge["payment_method_details"]["card"].update(
        {k: CARD[k] for k in ("last4", "fingerprint", "exp_month", "exp_year", "brand")}
    )
    charge.update(
        {
            "id": f"ch_{uuid.uuid4().hex[:24]}",
            "amount": AMOUNT,
            "customer": customer,
            "invoice": invoice["id"],
            "billing_details": copy.deepcopy(BILLING),
            "status": "failed",
            "paid": False,
            "captured": False,
            "failure_code": "card_declined",
            "failure_message": DECLINE_MESSAGE,
            "receipt_email": EMAIL,
            "shipping": shipping,
            "outcome": {
                **charge["outcome"],
                "reason": "generic_decline",
                "seller_message": "The bank did not return any further details.",
            },
        }
    )
    intent = copy.deepcopy(FIXTURES["payment_intent"])
    intent.update(
        {
            "id": f"pi_{uuid.uuid4().hex[:24]}",
            "amount": AMOUNT,
            "customer": customer,
            "invoice": invoice["id"],
            "latest_charge": charge["id"],
            "receipt_email": EMAIL,
            "shipping": shipping,
            "payment_method": payment_method["id"],
            "status": "requires_payment_method",
            "last_payment_error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": DECLINE_MESSAGE,
                "charge": charge["id"],
                "payment_method": payment_method,
            },
        }
    )
    charge["payment_intent"] = intent["id"]
    failed = copy.deepcopy(FIXTURES["invoice"])
    failed.update(
        {
            "id": invoice["id"],
            "number": invoice.get("number"),
            "customer": customer,
            "status": "open",
            "amount_due": AMOUNT,
            "amount_remaining": AMOUNT,
            "attempt_count": 1,
            "attempted": True,
            "hosted_invoice_url": invoice.get("hosted_invoice_url"),
            "customer_email": EMAIL,
            "customer_name": "Jenny Rosen Ltd",
            "customer_phone": PHONE,
            "customer_address": address,
            "customer_shipping": shipping,
            "charge": charge,
            "payment_intent": intent,
        }
    )
    return [
        _event("invoice.payment_failed", failed, livemode),
        _event("payment_intent.payment_failed", intent, livemode),
        _event("charge.failed", charge, livemode),
    ]


async def post(live: LiveStack, event: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(event).encode()
    answer = await live.http.post(
        f"{live.gateway_url}/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def open_invoice(live: LiveStack, card: str) -> dict[str, Any]:
    """A customer with the fixture's e-mail and phone, and an invoice charged to ``card``
    (a Stripe test card; a declined one leaves the invoice open) in the sandbox's Stripe:
    what the worker's lookups read."""
    client = live.stripe
    customer = client.v1.customers.create(
        params={
            "name": "Jenny Rosen Ltd",
            "email": EMAIL,
            "phone": PHONE,
            "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "example.com"},
        }
    )
    method = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "charge_automatically",
            "auto_advance": False,
            "description": "Annual plan",
            "default_payment_method": method.id,
        }
    )
    assert invoice.id is not None
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": AMOUNT,
            "currency": "usd",
            "description": "Annual plan",
        }
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    try:
        client.v1.invoices.pay(invoice.id, params={"payment_method": method.id})
    except stripe.CardError:
        pass  # the events of this decline are the test's own (the sandbox sends none here)
    return client.v1.invoices.retrieve(invoice.id).to_dict()


# -- what a history holds -----------------------------------------------------------------------


async def history_text(live: LiveStack, workflow_id: str) -> str:
    """The history's JSON with each base64 payload replaced by its decoded text."""
    history = await live.client.get_workflow_handle(workflow_id).fetch_history()
    text = history.to_json()
    for data in {bytes(d) for event in history.events for d in payload_data(event)}:
        text = text.replace(base64.b64encode(data).decode(), data.decode("utf-8", "replace"))
    decoded = "".join(d.decode("utf-8", "replace") for e in history.events for d in payload_data(e))
    return text + decoded


def leaks(text: str) -> list[str]:
    found = [
        value
        for value in (EMAIL, PHONE, PHONE.lstrip("+1"), ADDRESS_LINE, FINGERPRINT)
        if value in text
    ]
    for digits in (LAST4, POSTAL_CODE, str(EXP_YEAR)):
        if re.search(rf"(?<![A-Za-z0-9]){digits}(?![A-Za-z0-9])", text):
            found.append(digits)
    found += [f'"{key}"' for key in CARD_KEYS if f'"{key}"' in text]
    return found


# -- the stack ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as live:
        # The test posts each event itself, built from the fixtures: the sandbox's own
        # webhook deliveries would race it.
        for endpoint in live.stripe.v1.webhook_endpoints.list().data:
            live.stripe.v1.webhook_endpoints.delete(endpoint.id)
        yield live


async def test_a_failed_payment_leaves_no_card_or_contact_details_in_its_history(
    stack: LiveStack,
) -> None:
    invoice = open_invoice(stack, "pm_card_chargeDeclined")
    workflow_id = remediation_id("payment_failed", "invoice", invoice["id"])
    for event in failure_events(invoice):
        assert (await post(stack, event))["workflow_ids"] == [workflow_id]
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.slack is not None,
        timeout=60,
    )
    # What Canary shows is all there: the amount, the invoice, the decline and its code.
    alert = next(m for m in await stack.messages("#gtm-alerts") if m["ts"] == status.slack.ts)
    shown = json.dumps(alert, ensure_ascii=False)
    assert "$12,345.00" in shown and "generic_decline" in shown
    assert DECLINE_MESSAGE in shown and str(invoice["number"]) in shown
    assert "Jenny Rosen Ltd" in shown  # the customer's name is how people know the account
    assert status.occurrences == 1  # three events of one attempt, folded by its charge

    text = await history_text(stack, workflow_id)
    assert invoice["id"] in text and "generic_decline" in text  # the search is real
    assert not leaks(text), leaks(text)


async def test_a_live_mode_event_on_a_test_mode_setup_is_acknowledged_and_starts_nothing(
    stack: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = open_invoice(stack, "pm_card_chargeDeclined")
    workflow_id = remediation_id("payment_failed", "invoice", invoice["id"])
    with caplog.at_level(logging.INFO, logger="canary.gateway"):
        for event in failure_events(invoice, livemode=True):
            answer = await post(stack, event)  # 200: Stripe must not retry it for days
            assert answer["action"] == "ignored" and answer["workflow_ids"] == []
            assert "live mode" in answer["detail"]
    assert any("live mode" in r.getMessage() for r in caplog.records)
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(workflow_id).describe()


async def test_a_failure_delivered_after_the_payment_closes_quietly(stack: LiveStack) -> None:
    invoice = open_invoice(stack, "pm_card_visa")
    assert invoice["status"] == "paid"
    workflow_id = remediation_id("payment_failed", "invoice", invoice["id"])
    slack_before = await stack.requests(service="slack")
    # The failure of an earlier attempt, delivered late: its snapshot says "open".
    answer = await post(stack, failure_events(invoice)[0])
    assert answer["workflow_ids"] == [workflow_id]
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state not in OPEN_STATES,
        timeout=30,
    )
    # Nothing to fix: Stripe, read by the diagnosis, says paid (the event's snapshot cannot).
    assert status.outcome == "auto_resolved" and status.slack is None
    assert status.occurrences == 1
    assert any("paid" in e.text for e in status.timeline if e.kind == "closed")
    slack_after = await stack.requests(service="slack")
    said = json.dumps(slack_after[len(slack_before) :])
    assert invoice["id"] not in said and workflow_id not in said


# -- which mode a deployment acts on ------------------------------------------------------------


@pytest.mark.parametrize(
    ("livemode", "key", "expected"),
    [
        (True, None, True),
        (False, None, False),
        (True, "sk_test_x", True),
        (False, "sk_live_x", False),  # the setting wins
        (None, "sk_live_x", True),
        (None, "rk_live_x", True),
        (None, "sk_test_x", False),
        (None, "rk_test_x", False),
        (None, None, None),
        (None, "not_a_stripe_key", None),
    ],
)
def test_the_mode_is_stripe_livemode_else_the_key_s(
    livemode: bool | None, key: str | None, expected: bool | None
) -> None:
    settings = Settings(stripe_livemode=livemode, stripe_api_key=key)
    assert expected_livemode(settings) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("", None), (" ", None), ("1", True), ("0", False)],
)
def test_stripe_livemode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool | None
) -> None:
    monkeypatch.setenv("STRIPE_LIVEMODE", value)  # compose passes an unset one as ""
    assert Settings(_env_file=None).stripe_livemode is expected  # type: ignore[call-arg]


def test_a_stripe_livemode_that_is_not_a_boolean_stops_canary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_LIVEMODE", "live")
    with pytest.raises(ValidationError, match="STRIPE_LIVEMODE"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@asynccontextmanager
async def gateway(client: Client, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with no worker behind it (what it starts only waits), and no Stripe key:
    the compose file's gateway."""
    app = create_app(
        Settings(
            task_queue=f"pii-{uuid.uuid4().hex[:8]}",
            stripe_webhook_secret=WEBHOOK_SECRET,
            api_token=API_TOKEN,
            **settings,
        ),
        temporal=client,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http


async def signed_post(http: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    return await http.post(
        "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


def fixture_failure(livemode: Any) -> tuple[dict[str, Any], str]:
    """A fixture invoice.payment_failed of its own invoice: (event, remediation id)."""
    invoice = {
        "id": f"in_{uuid.uuid4().hex[:24]}",
        "customer": "cus_QXg1o8vcGmoR32",
        "number": "7FE1103-0001",
        "hosted_invoice_url": None,
    }
    event = failure_events(invoice)[0]
    event["livemode"] = livemode
    return event, remediation_id("payment_failed", "invoice", invoice["id"])


async def started(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    await client.get_workflow_handle(workflow_id).terminate("test over")
    return True


async def test_a_live_event_with_no_mode_configured_is_kept_by_stripe_until_it_is(
    dev_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither STRIPE_LIVEMODE nor a key: test-mode events are taken; a live one is a 503
    naming the setting, so Stripe delivers it again once the deployment says it is live."""
    async with gateway(dev_env.client) as http:
        live, live_id = fixture_failure(True)
        with caplog.at_level(logging.ERROR, logger="canary.gateway"):
            answer = await signed_post(http, live)
        assert answer.status_code == 503
        assert "STRIPE_LIVEMODE is not set" in answer.json()["detail"]
        assert any("STRIPE_LIVEMODE" in r.getMessage() for r in caplog.records)
        assert not await started(dev_env.client, live_id)
        test, test_id = fixture_failure(False)
        assert (await signed_post(http, test)).json()["action"] == "started_or_folded"
        assert await started(dev_env.client, test_id)


async def test_a_live_deployment_acts_on_live_events_and_ignores_test_ones(
    dev_env: WorkflowEnvironment,
) -> None:
    async with gateway(dev_env.client, stripe_livemode=True) as http:
        for livemode in (False, None):  # None: an event that does not say counts as test
            event, workflow_id = fixture_failure(livemode)
            if livemode is None:
                del event["livemode"]
            answer = await signed_post(http, event)
            assert answer.status_code == 200
            assert answer.json()["action"] == "ignored"
            assert "test mode" in answer.json()["detail"]
            assert not await started(dev_env.client, workflow_id)
        # A test-mode payment cannot close a live remediation either: the whole event waits.
        paid = _event("invoice.paid", {"id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I", "status": "paid"})
        assert (await signed_post(http, paid)).json()["action"] == "ignored"
        event, workflow_id = fixture_failure(True)
        assert (await signed_post(http, event)).json()["action"] == "started_or_folded"
        assert await started(dev_env.client, workflow_id)


@pytest.mark.parametrize("livemode", ["true", 1, None, {"live": True}])
async def test_a_livemode_that_is_not_true_or_false_is_refused(
    dev_env: WorkflowEnvironment, livemode: Any
) -> None:
    async with gateway(dev_env.client, stripe_livemode=False) as http:
        event, workflow_id = fixture_failure(livemode)
        answer = await signed_post(http, event)
        assert answer.status_code == 400 and "livemode" in answer.json()["detail"]
        assert not await started(dev_env.client, workflow_id)
