"""The sandbox speaks Stripe's and Slack's wire formats: checked through the real SDKs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from sandbox import SandboxConfig, SandboxServer
from tests.helpers import wait_until
from tests.sandbox.receiver import Receiver

KEY = "sk_test_sandbox_tests"
TOKEN = "xoxb-sandbox-tests"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(slack_signing_secret="sandbox-test-secret")) as server:
        yield server


@pytest.fixture()
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


@pytest.fixture()
def slack(sandbox: SandboxServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{sandbox.url}/api/")


def requests_of(sandbox: SandboxServer, **params: Any) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.url}/_sandbox/requests", params=params).json())


# -- Stripe -------------------------------------------------------------------------------------


def test_stripe_refuses_live_and_missing_keys(sandbox: SandboxServer) -> None:
    live = stripe.StripeClient("sk_live_abcdefghijklmnop", base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided: sk_live"):
        live.v1.customers.list()
    response = httpx.get(f"{sandbox.url}/v1/customers")
    assert response.status_code == 401
    assert "You did not provide an API key" in response.json()["error"]["message"]


def test_customers_paginate_with_cursors(client: stripe.StripeClient) -> None:
    created = [
        client.v1.customers.create(params={"name": f"Pager {i}", "email": f"p{i}@x.example"}).id
        for i in range(5)
    ]
    page = client.v1.customers.list(params={"limit": 2})
    assert len(page.data) == 2 and page.has_more
    seen = [c.id for c in page.auto_paging_iter()]
    assert set(created) <= set(seen)
    assert len(seen) == len(set(seen))
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_does_not_exist")
    assert missing.value.code == "resource_missing"
    assert missing.value.http_status == 404


def _invoice(client: stripe.StripeClient, card: str, amount: int = 1000) -> str:
    customer = client.v1.customers.create(params={"name": "Wire Test", "email": "w@x.example"})
    pm = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    assert invoice.id
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": amount,
            "currency": "usd",
            "description": "Seats",
        }
    )
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open" and finalized.amount_due == amount
    assert finalized.hosted_invoice_url and finalized.number
    return invoice.id


def test_declines_are_card_errors_with_decline_codes(client: stripe.StripeClient) -> None:
    invoice = _invoice(client, "pm_card_chargeDeclinedInsufficientFunds")
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice)
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    assert declined.value.error is not None
    assert declined.value.error.decline_code == "insufficient_funds"
    after = client.v1.invoices.retrieve(invoice)
    assert after.status == "open" and after.attempt_count == 1
    # Today's versions name the invoice's payment intent only in its invoice payments.
    payments = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    assert [(p.status, p.is_default, p.payment.type) for p in payments] == [
        ("open", True, "payment_intent")
    ]
    intent = client.v1.payment_intents.retrieve(str(payments[0].payment.payment_intent))
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error and intent.last_payment_error.decline_code == (
        "insufficient_funds"
    )
    assert "invoice" not in intent
    kinds = [e.type for e in client.v1.events.list(params={"limit": 10}).data]
    assert "invoice.payment_failed" in kinds and "charge.failed" in kinds
    # Expanded, as Stripe does: the objects themselves in place of their ids.
    expanded = client.v1.invoices.retrieve(invoice, params={"expand": ["customer", "payments"]})
    assert isinstance(expanded.customer, stripe.Customer)
    assert expanded.customer.id == after.customer and expanded.customer.email
    assert expanded.payments is not None
    assert [p.id for p in expanded.payments.data] == [payments[0].id]
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded \(payment_intent\)"):
        client.v1.invoices.retrieve(invoice, params={"expand": ["payment_intent"]})
    # Four levels deep at most: the payments' payment intents, not their customers.
    deep = client.v1.invoices.retrieve(
        invoice, params={"expand": ["payments.data.payment.payment_intent"]}
    )
    assert deep.payments is not None
    assert deep.payments.data[0].payment.payment_intent.id == intent.id
    with pytest.raises(stripe.InvalidRequestError, match="more than 4 levels"):
        client.v1.invoices.retrieve(
            invoice, params={"expand": ["payments.data.payment.payment_intent.customer"]}
        )


def test_the_version_of_2024_06_20_names_the_invoice_on_its_payments(
    client: stripe.StripeClient,
) -> None:
    invoice = _invoice(client, "pm_card_chargeDeclinedExpiredCard")
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice)
    legacy = {"stripe_version": "2024-06-20"}
    old = client.v1.invoices.retrieve(
        invoice, params={"expand": ["payment_intent"]}, options=legacy
    )
    assert old.payment_intent.invoice == invoice
    assert old.paid is False and old.charge
    assert client.v1.charges.retrieve(old.charge, options=legacy).invoice == invoice
    today = client.v1.invoices.retrieve(invoice)
    assert "payment_intent" not in today and "paid" not in today and "charge" not in today
    assert today.parent is None and today.amount_overpaid == 0


def test_an_unknown_version_is_refused_as_stripe_refuses_it(sandbox: SandboxServer) -> None:
    response = httpx.get(
        f"{sandbox.url}/v1/customers",
        headers={"Authorization": f"Bearer {KEY}", "Stripe-Version": "2099-01-01"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "message": "Invalid Stripe API version: 2099-01-01",
        }
    }
    default = httpx.get(f"{sandbox.url}/v1/customers", headers={"Authorization": f"Bearer {KEY}"})
    assert default.headers["Stripe-Version"] == "2026-10-28.endive"


def test_invoice_payments_are_found_by_payment_intent(client: stripe.StripeClient) -> None:
    invoice = _invoice(client, "pm_card_visa", 2500)
    [payment] = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    intent = str(payment.payment.payment_intent)
    found = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": intent}}
    ).data
    assert [p.invoice for p in found] == [invoice]
    client.v1.invoices.pay(invoice)
    paid = client.v1.invoice_payments.retrieve(str(payment.id))
    assert (paid.status, paid.amount_paid) == ("paid", 2500)
    assert paid.status_transitions.paid_at
    elsewhere = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": "pi_notaninvoices"}}
    ).data
    assert elsewhere == []
    with pytest.raises(stripe.InvalidRequestError, match=r"payment\[type\]"):
        client.v1.invoice_payments.list(
            params={"payment": {"payment_intent": intent}}  # type: ignore[typeddict-item]
        )


def test_each_endpoint_gets_events_in_its_own_api_version(client: stripe.StripeClient) -> None:
    legacy, today = Receiver(), Receiver()
    try:
        endpoints = [
            client.v1.webhook_endpoints.create(
                params={"url": legacy.url, "enabled_events": ["*"], "api_version": "2024-06-20"}
            ),
            client.v1.webhook_endpoints.create(params={"url": today.url, "enabled_events": ["*"]}),
        ]
        assert [e.api_version for e in endpoints] == ["2024-06-20", None]
        invoice = _invoice(client, "pm_card_chargeDeclinedInsufficientFunds")
        with pytest.raises(stripe.CardError):
            client.v1.invoices.pay(invoice)

        [payment] = client.v1.invoice_payments.list(params={"invoice": invoice}).data
        intent = str(payment.payment.payment_intent)

        def failed(receiver: Receiver, kind: str, object_id: str) -> dict[str, Any]:
            wait_until(lambda: _event_of(receiver, kind, object_id) is not None)
            found = _event_of(receiver, kind, object_id)
            assert found is not None
            return found

        old, new = (failed(r, "invoice.payment_failed", invoice) for r in (legacy, today))
        assert old["api_version"] == "2024-06-20" and new["api_version"] == "2026-10-28.endive"
        assert old["id"] == new["id"], "one event, rendered for each endpoint"
        assert old["data"]["object"]["payment_intent"].startswith("pi_")
        assert old["data"]["object"]["charge"].startswith("ch_")
        assert "payment_intent" not in new["data"]["object"]
        assert new["data"]["object"]["parent"] is None
        old_intent, new_intent = (
            failed(r, "payment_intent.payment_failed", intent) for r in (legacy, today)
        )
        assert old_intent["data"]["object"]["invoice"] == invoice
        assert "invoice" not in new_intent["data"]["object"]
        with pytest.raises(stripe.InvalidRequestError, match="api_version"):
            client.v1.webhook_endpoints.create(
                params={"url": legacy.url, "enabled_events": ["*"], "api_version": "2019-01-01"}
            )
        for endpoint in endpoints:
            client.v1.webhook_endpoints.delete(str(endpoint.id))
    finally:
        legacy.close()
        today.close()


def test_a_new_card_sends_the_events_stripe_sends(client: stripe.StripeClient) -> None:
    """Attaching a card says payment_method.attached; making it the default (through the API or
    the billing portal) says customer.updated with the earlier default; an update that changes
    nothing says nothing."""
    receiver = Receiver()
    try:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        customer = client.v1.customers.create(
            params={"name": "Card Changer", "payment_method": "pm_card_visa"}
        )
        [first] = client.v1.customers.payment_methods.list(customer.id).data
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": first.id}}
        )
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": first.id}}
        )
        session = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
        changed = httpx.post(
            f"{session.url}/payment_method", data={"payment_method": "pm_card_mastercard"}
        )
        assert changed.status_code == 303
        after = client.v1.customers.retrieve(customer.id)
        second = str(after.invoice_settings.default_payment_method)
        assert second != first.id

        def of_customer() -> list[dict[str, Any]]:
            events = [json.loads(d["body"]) for d in receiver.received]
            return [
                e
                for e in sorted(events, key=lambda e: e["created"])
                if customer.id in (e["data"]["object"]["id"], e["data"]["object"].get("customer"))
            ]

        wait_until(lambda: len(of_customer()) >= 5)
        seen = [(e["type"], e["data"]["object"]["id"]) for e in of_customer()]
        assert seen == [
            ("customer.created", customer.id),
            ("payment_method.attached", first.id),
            ("customer.updated", customer.id),
            ("payment_method.attached", second),
            ("customer.updated", customer.id),
        ]
        updates = [e["data"] for e in of_customer() if e["type"] == "customer.updated"]
        assert [u["previous_attributes"] for u in updates] == [
            {"invoice_settings": {"default_payment_method": None}},
            {"invoice_settings": {"default_payment_method": first.id}},
        ]
        client.v1.webhook_endpoints.delete(str(endpoint.id))
    finally:
        receiver.close()


def _event_of(receiver: Receiver, kind: str, object_id: str) -> dict[str, Any] | None:
    for delivery in receiver.received:
        event = json.loads(delivery["body"])
        if event["type"] == kind and event["data"]["object"]["id"] == object_id:
            return dict(event)
    return None


def test_idempotency_keys_replay_and_refuse_reuse(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    invoice = _invoice(client, "pm_card_visa", 4200)
    key = f"canary-test/{invoice}/pay"
    first = client.v1.invoices.pay(invoice, options={"idempotency_key": key})
    again = client.v1.invoices.pay(invoice, options={"idempotency_key": key})
    assert first.status == again.status == "paid"
    [payment] = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    charges = client.v1.charges.list(
        params={"payment_intent": str(payment.payment.payment_intent)}
    ).data
    assert [c.status for c in charges] == ["succeeded"]
    pays = requests_of(sandbox, service="stripe", path=f"/v1/invoices/{invoice}/pay")
    assert [p["idempotency_key"] for p in pays] == [key, key]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.invoices.pay(
            invoice, params={"paid_out_of_band": True}, options={"idempotency_key": key}
        )
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(invoice)


def test_webhooks_are_signed_like_stripe_and_retried(client: stripe.StripeClient) -> None:
    receiver = Receiver(status=500)
    try:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["invoice.paid"]}
        )
        secret = endpoint.secret
        assert secret and secret.startswith("whsec_")
        invoice = _invoice(client, "pm_card_visa")
        client.v1.invoices.pay(invoice)
        wait_until(lambda: len(receiver.received) >= 2)  # refused once, so delivered again
        receiver.status = 200
        wait_until(lambda: len(receiver.received) >= 3)
        for delivery in receiver.received:
            payload = delivery["body"]
            event = stripe.Webhook.construct_event(
                payload, delivery["headers"]["Stripe-Signature"], secret
            )
            assert event.type == "invoice.paid"
            assert event.data.object.id == invoice
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(
                receiver.received[0]["body"],
                receiver.received[0]["headers"]["Stripe-Signature"],
                "whsec_wrong",
            )
        client.v1.webhook_endpoints.delete(str(endpoint.id))
    finally:
        receiver.close()


def test_hosted_invoice_page_and_billing_portal(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    invoice = _invoice(client, "pm_card_chargeDeclinedExpiredCard", 125000)
    page = httpx.get(f"{sandbox.url}/hosted/invoices/{invoice}")
    assert page.status_code == 200 and "$1,250.00" in page.text
    customer = str(client.v1.invoices.retrieve(invoice).customer)
    session = client.v1.billing_portal.sessions.create(params={"customer": customer})
    assert session.url.startswith(sandbox.url)
    updated = httpx.post(
        f"{session.url}/payment_method",
        data={"payment_method": "pm_card_visa"},
        follow_redirects=True,
    )
    assert updated.status_code == 200 and "ending 4242" in updated.text
    pm = client.v1.customers.retrieve(customer).invoice_settings
    assert pm and pm.default_payment_method
    declined = httpx.post(
        f"{sandbox.url}/hosted/invoices/{invoice}/pay",
        data={"payment_method": "pm_card_chargeDeclined"},
        follow_redirects=True,
    )
    assert "Your card was declined." in declined.text
    paid = httpx.post(
        f"{sandbox.url}/hosted/invoices/{invoice}/pay",
        data={"payment_method": "pm_card_visa"},
        follow_redirects=True,
    )
    assert "payment received" in paid.text
    assert client.v1.invoices.retrieve(invoice).status == "paid"


def test_form_encoding_nests_metadata_and_lists(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        params={"name": "Nested", "metadata": {"owner_email": "a@b.example", "tier": "gold"}}
    )
    assert customer.metadata.to_dict() == {"owner_email": "a@b.example", "tier": "gold"}
    unset = client.v1.customers.update(customer.id, params={"metadata": {"tier": ""}})
    assert unset.metadata.to_dict() == {"owner_email": "a@b.example"}


# -- Slack --------------------------------------------------------------------------------------


def test_slack_refuses_bad_tokens(sandbox: SandboxServer) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(token="xoxp-user-token", base_url=f"{sandbox.url}/api/").auth_test()
    assert refused.value.response["error"] == "invalid_auth"
    no_token = httpx.post(f"{sandbox.url}/api/auth.test")
    assert no_token.status_code == 200 and no_token.json() == {"ok": False, "error": "not_authed"}


def test_channels_page_by_cursor_and_messages_keep_threads(slack: WebClient) -> None:
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = slack.conversations_list(limit=2, cursor=cursor)
        names += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages > 2 and {"gtm-alerts", "gtm-escalations", "revops"} <= set(names)

    posted = slack.chat_postMessage(
        channel="#revops",
        text="Alert",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Hello* <@U0DAN>"}}],
        metadata={"event_type": "canary_remediation", "event_payload": {"key": "k1"}},
    )
    reply = slack.chat_postMessage(channel=posted["channel"], text="step 1", thread_ts=posted["ts"])
    slack.chat_update(channel=posted["channel"], ts=posted["ts"], text="Alert (resolved)")
    history = slack.conversations_history(channel=posted["channel"], include_all_metadata=True)
    top = history["messages"][0]
    assert top["ts"] == posted["ts"] and top["text"] == "Alert (resolved)"
    assert top["metadata"]["event_payload"] == {"key": "k1"} and top["reply_count"] == 1
    without = slack.conversations_history(channel=posted["channel"])
    assert "metadata" not in without["messages"][0]
    later = slack.chat_postMessage(channel=posted["channel"], text="Later")
    since = slack.conversations_history(channel=posted["channel"], oldest=posted["ts"])
    assert [m["ts"] for m in since["messages"]] == [later["ts"]]
    both = slack.conversations_history(
        channel=posted["channel"], oldest=posted["ts"], latest=later["ts"], inclusive=True
    )
    assert [m["ts"] for m in both["messages"]] == [later["ts"], posted["ts"]]
    before = slack.conversations_history(channel=posted["channel"], latest=later["ts"])
    assert later["ts"] not in [m["ts"] for m in before["messages"]]
    thread = slack.conversations_replies(channel=posted["channel"], ts=posted["ts"])
    assert [m["ts"] for m in thread["messages"]] == [posted["ts"], reply["ts"]]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        slack.chat_postMessage(channel="#nowhere", text="x")
    with pytest.raises(SlackApiError, match="no_text"):
        slack.chat_postMessage(channel="#revops")
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        slack.chat_postMessage(channel="#revops", text="x", blocks=[{"text": "no type"}])


def test_interleaved_threads_stay_apart_and_an_answer_keeps_what_it_showed(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    first = slack.chat_postMessage(channel="#gtm-escalations", text="First alert")
    second = slack.chat_postMessage(channel="#gtm-escalations", text="Second alert")
    replies = {first["ts"]: [], second["ts"]: []}
    for n in range(3):
        for parent in (first, second):
            reply = slack.chat_postMessage(
                channel=parent["channel"], text=f"step {n}", thread_ts=parent["ts"]
            )
            replies[parent["ts"]].append(reply["ts"])
    for parent in (first, second):
        thread = slack.conversations_replies(channel=parent["channel"], ts=parent["ts"])
        assert [m["ts"] for m in thread["messages"]] == [parent["ts"], *replies[parent["ts"]]]
    history = slack.conversations_history(channel=first["channel"], oldest=first["ts"])
    assert [m["ts"] for m in history["messages"]] == [second["ts"]], "replies stay in threads"
    assert history["messages"][0]["reply_count"] == 3

    slack.chat_update(
        channel=first["channel"],
        ts=first["ts"],
        text="First alert (resolved)",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Resolved"}}],
    )
    answered = [
        r["response"]["message"]
        for r in requests_of(sandbox, service="slack", path="/api/chat.postMessage")
        if r["response"].get("ts") == first["ts"]
    ]
    assert answered == [{**answered[0], "text": "First alert"}] and "blocks" not in answered[0]
    shown = slack.conversations_replies(channel=first["channel"], ts=first["ts"])["messages"][0]
    assert shown["text"] == "First alert (resolved)" and shown["reply_count"] == 3


def test_people_and_groups(slack: WebClient) -> None:
    assert slack.users_lookupByEmail(email="alice@acme-gtm.example")["user"]["id"] == "U0ALICE"
    with pytest.raises(SlackApiError, match="users_not_found"):
        slack.users_lookupByEmail(email="gina@acme-gtm.example")
    groups = {g["handle"]: g["id"] for g in slack.usergroups_list()["usergroups"]}
    assert slack.usergroups_users_list(usergroup=groups["revops"])["users"] == ["U0DAN"]


def test_chat_page_renders_blocks_escaped(sandbox: SandboxServer, slack: WebClient) -> None:
    slack.chat_postMessage(
        channel="#finance",
        text="x",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "Payment failed"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "<script>alert(1)</script> *bold* <https://e.example|Invoice>",
                },
            },
            {
                "type": "actions",
                "block_id": "b1",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "canary:retry",
                        "value": "wf-1",
                        "text": {"type": "plain_text", "text": "Retry payment"},
                        "style": "primary",
                    }
                ],
            },
        ],
    )
    page = httpx.get(f"{sandbox.url}/", params={"channel": "finance", "as": "U0ERIN"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text and "<b>bold</b>" in page.text
    assert '<a href="https://e.example"' in page.text and "Retry payment" in page.text
    assert 'name="action_id" value="canary:retry"' in page.text


def test_clicks_are_signed_block_actions(sandbox: SandboxServer, slack: WebClient) -> None:
    posted = slack.chat_postMessage(
        channel="#gtm-alerts",
        text="x",
        blocks=[
            {
                "type": "actions",
                "block_id": "canary:wf-2",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "canary:approve",
                        "value": "wf-2",
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        "type": "static_select",
                        "action_id": "canary:link",
                        "placeholder": {"type": "plain_text", "text": "Pick"},
                        "options": [
                            {"text": {"type": "plain_text", "text": "Hooli"}, "value": "001A"}
                        ],
                    },
                ],
            },
        ],
    )
    receiver = Receiver()
    try:
        httpx.post(f"{sandbox.url}/_sandbox/config", json={"slack_interactivity_url": receiver.url})
        click = {
            "user": "U0BOB",
            "channel": "gtm-alerts",
            "ts": posted["ts"],
            "action_id": "canary:approve",
        }
        answer = httpx.post(f"{sandbox.url}/_sandbox/slack/click", json=click).json()
        assert answer["status"] == 200
        select = dict(click, action_id="canary:link", selected_option="001A")
        assert (
            httpx.post(f"{sandbox.url}/_sandbox/slack/click", json=select).json()["status"] == 200
        )
        verifier = SignatureVerifier("sandbox-test-secret")
        payloads = []
        for delivery in receiver.received:
            headers = {k.lower(): v for k, v in delivery["headers"].items()}
            assert verifier.is_valid_request(delivery["body"], headers)
            assert not SignatureVerifier("other").is_valid_request(delivery["body"], headers)
            form = dict(httpx.QueryParams(delivery["body"].decode()))
            payloads.append(json.loads(form["payload"]))
        button, chosen = payloads
        assert button["type"] == "block_actions" and button["user"]["id"] == "U0BOB"
        assert button["actions"][0]["value"] == "wf-2"
        assert button["container"]["message_ts"] == posted["ts"]
        assert chosen["actions"][0]["selected_option"]["value"] == "001A"
        assert chosen["actions"][0]["block_id"] == "canary:wf-2"
        # The response_url answers like Slack's: an ephemeral reply for the clicker.
        reply = httpx.post(
            button["response_url"],
            json={"text": "Done", "replace_original": False, "response_type": "ephemeral"},
        )
        assert reply.json() == {"ok": True}
        ephemeral = httpx.get(
            f"{sandbox.url}/_sandbox/slack/ephemeral", params={"user": "U0BOB"}
        ).json()
        assert ephemeral[-1]["text"] == "Done"
    finally:
        receiver.close()


# -- faults -------------------------------------------------------------------------------------


def test_a_thread_pages_by_cursor_parent_first(slack: WebClient) -> None:
    parent = slack.chat_postMessage(channel="#gtm-alerts", text="paged thread")
    for n in range(3):
        slack.chat_postMessage(channel=parent["channel"], thread_ts=parent["ts"], text=f"r{n}")
    first = slack.conversations_replies(channel=parent["channel"], ts=parent["ts"], limit=2)
    assert [m["text"] for m in first["messages"]] == ["paged thread", "r0"]
    assert first["has_more"] and first["messages"][0]["subscribed"] is False
    cursor = first["response_metadata"]["next_cursor"]
    rest = slack.conversations_replies(
        channel=parent["channel"], ts=parent["ts"], limit=2, cursor=cursor
    )
    assert [m["text"] for m in rest["messages"]] == ["r1", "r2"]
    assert not rest["has_more"] and rest["response_metadata"]["next_cursor"] == ""


def test_recorded_calls_are_counted_by_path_from_a_cursor(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    """A benchmark counts the calls of a phase without reading them back: the counts start
    after the cursor, and ``last_id`` is where the next count starts."""

    def count(since_id: int = 0) -> dict[str, int]:
        params = {"service": "slack", "since_id": since_id}
        return dict(httpx.get(f"{sandbox.url}/_sandbox/requests/count", params=params).json())

    cursor = count()["last_id"]
    posted = slack.chat_postMessage(channel="#gtm-alerts", text="counted")
    slack.chat_update(channel=posted["channel"], ts=posted["ts"], text="counted again")
    slack.chat_postMessage(channel="#gtm-alerts", text="and once more")
    counted = count(cursor)
    assert counted == {
        "last_id": counted["last_id"],
        "/api/chat.postMessage": 2,
        "/api/chat.update": 1,
    }
    assert counted["last_id"] == max(r["id"] for r in requests_of(sandbox, service="slack"))
    assert count(counted["last_id"]) == {"last_id": counted["last_id"]}


def test_faults_rate_limit_then_recover(
    sandbox: SandboxServer, slack: WebClient, client: stripe.StripeClient
) -> None:
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={
            "service": "slack",
            "path": "/api/auth.test",
            "status": 429,
            "retry_after": 3,
            "times": 1,
        },
    )
    with pytest.raises(SlackApiError) as limited:
        slack.auth_test()
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["retry-after"] in ("3", ["3"])
    assert slack.auth_test()["ok"]

    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"service": "stripe", "path": "/v1/customers", "status": 500, "times": 1},
    )
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"service": "stripe", "path": "/v1/customers", "malformed": True},
    )
    with pytest.raises(stripe.APIError, match="Invalid response body"):
        client.v1.customers.list()
    assert client.v1.customers.list().object == "list"
    faulted = [r for r in requests_of(sandbox, service="stripe") if r["fault"]]
    assert len(faulted) == 2
    httpx.delete(f"{sandbox.url}/_sandbox/faults")
