"""The sandbox speaks Stripe's and Slack's wire formats: checked through the real SDKs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from sandbox import SandboxConfig, SandboxServer
from tests.helpers import wait_until

KEY = "sk_test_sandbox_tests"
TOKEN = "xoxb-sandbox-tests"


class Receiver:
    """A tiny HTTP endpoint that keeps what it was sent (a webhook or interactivity URL)."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
    intent = client.v1.payment_intents.retrieve(str(after.payment_intent))
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error and intent.last_payment_error.decline_code == (
        "insufficient_funds"
    )
    kinds = [e.type for e in client.v1.events.list(params={"limit": 10}).data]
    assert "invoice.payment_failed" in kinds and "charge.failed" in kinds
    # Expanded, as Stripe does: the objects themselves in place of their ids.
    expanded = client.v1.invoices.retrieve(
        invoice, params={"expand": ["customer", "payment_intent"]}
    )
    assert isinstance(expanded.customer, stripe.Customer)
    assert expanded.customer.id == after.customer and expanded.customer.email
    assert isinstance(expanded.payment_intent, stripe.PaymentIntent)
    assert expanded.payment_intent.id == after.payment_intent


def test_idempotency_keys_replay_and_refuse_reuse(
    sandbox: SandboxServer, client: stripe.StripeClient
) -> None:
    invoice = _invoice(client, "pm_card_visa", 4200)
    key = f"canary-test/{invoice}/pay"
    first = client.v1.invoices.pay(invoice, options={"idempotency_key": key})
    again = client.v1.invoices.pay(invoice, options={"idempotency_key": key})
    assert first.status == again.status == "paid"
    charges = client.v1.charges.list(params={"limit": 100}).data
    assert len([c for c in charges if c.invoice == invoice and c.status == "succeeded"]) == 1
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
    thread = slack.conversations_replies(channel=posted["channel"], ts=posted["ts"])
    assert [m["ts"] for m in thread["messages"]] == [posted["ts"], reply["ts"]]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        slack.chat_postMessage(channel="#nowhere", text="x")
    with pytest.raises(SlackApiError, match="no_text"):
        slack.chat_postMessage(channel="#revops")
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        slack.chat_postMessage(channel="#revops", text="x", blocks=[{"text": "no type"}])


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
