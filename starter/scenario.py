"""The demo scenario: real GTM errors raised through the sandbox's Stripe and the API, then a
person at work in the sandbox's Slack.

Everything goes through the front door (Stripe's API → signed webhook → gateway, or the
detection API with a bearer token; a click on the chat page → Slack's signed payload or Socket
Mode envelope → gateway), so the demo exercises the same path as production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import stripe

from starter.stack import DEMO_PRODUCT_HOST, Stack, StackError
from workflows import remediation_id

T = TypeVar("T")

#: A new self-serve customer, in no CRM: a small payment the plan retries without pinging
#: anyone. The sandbox's card declines twice (the invoice's attempt and retry 1), then pays.
SELF_SERVE: dict[str, Any] = {
    "name": "Tinkerly",
    "email": "owner@tinkerly.example",
    "card": "pm_card_declineFirst2Times",
    "amount": 4_900,
    "description": "Tinkerly — Starter plan, monthly (self-serve)",
    "metadata": {"domain": "tinkerly.example"},
    "note": "self-serve: retried quietly on the plan, this card pays on retry 2, nobody is pinged",
}

CUSTOMERS: list[dict[str, Any]] = [
    {
        # Seeded in the sandbox's Stripe with the id its Salesforce account carries.
        "customer": "cus_SbxGlobex000001",
        "name": "Globex Corporation",
        "email": "ap@globex.example",
        "card": "pm_card_chargeDeclinedInsufficientFunds",
        "amount": 4_800_000,
        "description": "Globex — Enterprise plan, annual (committed deal)",
        "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "globex.example"},
    },
    {
        "customer": "cus_SbxInitech00001",
        "name": "Initech",
        "email": "billing@initech.example",
        "card": "pm_card_chargeDeclinedExpiredCard",
        "amount": 125_000,
        "description": "Initech — Growth plan, quarterly",
        "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "initech.example"},
    },
    SELF_SERVE,
]

UNKNOWN_ERROR: dict[str, Any] = {
    "source": "zapier",
    "subject": {"kind": "zap_run", "id": "zap-sync-hubspot-deals-8812"},
    "account": {"name": "Umbrella Corp", "domain": "umbrella.example"},
    "message": "Zap 'Sync HubSpot deals to Salesforce' failed at step 3: HubSpot API returned "
    "502 Bad Gateway (request id 7f3c9a1e)",
    "facts": {"zap": "Sync HubSpot deals to Salesforce", "step": 3, "http_status": 502},
    "links": [{"label": "Zap history", "url": "https://zapier.com/app/history"}],
}


def fail_a_payment(client: stripe.StripeClient, spec: dict[str, Any]) -> str:
    """Invoice a customer on a card that will decline; returns the invoice id."""
    if spec.get("customer"):
        customer = client.v1.customers.update(
            spec["customer"],
            params={"name": spec["name"], "email": spec["email"], "metadata": spec["metadata"]},
        )
    else:
        customer = client.v1.customers.create(
            params={"name": spec["name"], "email": spec["email"], "metadata": spec["metadata"]}
        )
    method = client.v1.payment_methods.attach(spec["card"], params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "charge_automatically",
            "auto_advance": False,
            "description": spec["description"],
            "metadata": spec.get("invoice_metadata", {}),
        }
    )
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": spec["amount"],
            "currency": "usd",
            "description": spec["description"],
        }
    )
    assert invoice.id is not None
    client.v1.invoices.finalize_invoice(invoice.id)
    try:
        client.v1.invoices.pay(invoice.id)
    except stripe.CardError:
        pass  # expected: the sandbox's Stripe now sends invoice.payment_failed to the gateway
    return invoice.id


CRM_DETECTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "PandaDoc: Wayne's pilot contract signed, deal not Closed Won "
        "(Salesforce's validation rule will refuse: contract not signed in the CRM)",
        {
            "type": "stage_mismatch",
            "source": "pandadoc",
            "subject": {"kind": "opportunity", "id": "opp_wayne_pilot"},
            "message": "Contract signed in PandaDoc",
            "facts": {"evidence_text": "PandaDoc says the Wayne pilot contract was signed"},
        },
    ),
    (
        "Product: Hooli Labs workspace has no CRM account (two candidates: pick one)",
        {
            "source": "product",
            "subject": {"kind": "app_account", "id": "app_hooli_labs"},
            "account": {"name": "Hooli Labs", "domain": "hooli.example"},
            "message": "New workspace without a CRM account",
            "facts": {
                "app_admin_url": f"https://{DEMO_PRODUCT_HOST}/admin/accounts/app_hooli_labs"
            },
        },
    ),
    (
        "Product: Stark Industries workspace has no CRM account (one candidate)",
        {
            "source": "product",
            "subject": {"kind": "app_account", "id": "app_stark"},
            "account": {"name": "Stark Industries", "domain": "stark.example"},
            "message": "New workspace without a CRM account",
        },
    ),
    (
        "Product: Soylent workspace matches no CRM account (RevOps creates one)",
        {
            "source": "product",
            "subject": {"kind": "app_account", "id": "app_soylent"},
            "account": {"name": "Soylent", "domain": "soylent.example"},
            "message": "New workspace without a CRM account",
        },
    ),
]


def _resolve_ids(body: dict[str, Any]) -> dict[str, Any]:
    """Swap seed handles (opp_wayne_pilot) for the sandbox org's real record ids."""
    from sandbox.salesforce import SEED_IDS

    subject = dict(body["subject"])
    subject["id"] = SEED_IDS.get(subject["id"], subject["id"])
    return {**body, "subject": subject}


def run_scenario(stack: Stack) -> Iterator[str]:
    from sandbox.salesforce import SEED_IDS

    client = stripe.StripeClient(
        stack.env["STRIPE_API_KEY"], base_addresses={"api": stack.sandbox_url}
    )
    for spec in CUSTOMERS:
        if spec["name"].startswith("Globex"):
            # When this invoice is finally paid, its deal should become Closed Won.
            spec = {
                **spec,
                "invoice_metadata": {
                    "salesforce_opportunity_id": SEED_IDS["opp_globex_enterprise"]
                },
            }
        invoice = fail_a_payment(client, spec)
        note = f" — {spec['note']}" if spec.get("note") else ""
        yield (
            f"{spec['name']}: card declined ({spec['card'].removeprefix('pm_card_')}){note} → "
            f"{remediation_id('payment_failed', 'invoice', invoice)}"
        )
    headers = {"Authorization": f"Bearer {stack.env['CANARY_API_TOKEN']}"}

    def post(body: dict[str, Any]) -> str:
        response = httpx.post(
            f"{stack.gateway_url}/api/detections", json=body, timeout=30, headers=headers
        )
        response.raise_for_status()
        return str(response.json()["workflow_id"])

    for label, body in CRM_DETECTIONS:
        yield f"{label} → {post(_resolve_ids(body))}"
    # The same Zapier failure three times: the third says it is time to write an SOP.
    zaps = []
    for run in range(3):
        body = {
            **UNKNOWN_ERROR,
            "subject": {"kind": "zap_run", "id": f"zap-sync-hubspot-deals-{8812 + run}"},
        }
        zaps.append(post(body))
        yield f"Zapier: unrecognised error (run {run + 1} of 3) → {zaps[-1]}"

    yield from run_detectors(stack)
    yield from dismiss_and_open_home(stack, zaps[0])


def run_detectors(stack: Stack) -> Iterator[str]:
    """Run every detector once on the seeded CRM and warehouse, and post the digests now."""
    import asyncio

    from canary.client import connect
    from canary.settings import Settings
    from starter.schedules import run_detectors_once

    settings = Settings(
        temporal_address=stack.env["TEMPORAL_ADDRESS"],
        task_queue=stack.env.get("CANARY_TASK_QUEUE", "canary"),
        # With --encrypt, the keys the worker reads this client's payloads with.
        payload_keys=stack.env.get("CANARY_PAYLOAD_KEYS", ""),
        # The demo's catalog, which the worker diagnoses with too.
        catalog_path=stack.env.get("CANARY_CATALOG"),
    )

    async def go() -> list[Any]:
        client = await connect(settings)
        return await run_detectors_once(client, settings, flush_digests=True)

    for result in asyncio.run(go()):
        yield (
            f"Detector {result.detector_id}: checked {result.checked}, raised {result.raised}"
            + (f" → {', '.join(result.workflow_ids)}" if result.workflow_ids else "")
        )


#: Who acts on the chat page in the demo: Dan, in RevOps (the unknown error's SOP's group).
DEMO_PERSON = ("U0DAN", "Dan Reyes")
#: The reason Dan picks, one of the SOP's choices (the catalog's forms.dismiss_reasons).
DEMO_DISMISS_REASON = "Duplicate of another alert"
#: How long the demo waits for the sandbox's Slack to show what the gateway did.
SLACK_WAIT_SECONDS = 90.0


def _until(what: str, probe: Callable[[], T | None], timeout: float = SLACK_WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise StackError(f"the demo waited {timeout:.0f} s for {what} in the sandbox's Slack")
        time.sleep(0.25)
    return found


def dismiss_and_open_home(stack: Stack, workflow_id: str) -> Iterator[str]:
    """As a person on the chat page: Dan presses Dismiss on the first Zapier alert (the two
    after it report the same failure), picks why in Canary's form, and opens his Home tab.
    Each step goes through the sandbox's Slack as a person's would: the click leaves as
    Slack's block_actions, the form is the modal the gateway opened, its submission a
    view_submission, the Home tab's opening an app_home_opened event (signed HTTP, or the
    app's Socket Mode connection with --socket-mode)."""
    user, name = DEMO_PERSON
    slack = f"{stack.sandbox_url}/_sandbox/slack"

    def get(path: str, **params: str) -> Any:
        answer = httpx.get(f"{slack}/{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def post(path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        answer = httpx.post(f"{slack}/{path}", json=body, params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def the_alert() -> tuple[dict[str, Any], dict[str, Any]] | None:
        for message in get("messages", channel="gtm-alerts"):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if (element.get("action_id"), element.get("value")) == (
                        "canary:dismiss",
                        workflow_id,
                    ):
                        return message, block
        return None

    message, block = _until(f"the alert of {workflow_id}", the_alert)
    clicked = post(
        "click",
        {
            "user": user,
            "channel": message["channel"],
            "ts": message["ts"],
            "action_id": "canary:dismiss",
            "block_id": block.get("block_id"),
            "value": workflow_id,
        },
    )
    if clicked["status"] != 200:
        raise StackError(f"the gateway answered Dismiss with {clicked['status']}: {clicked}")

    def the_form() -> dict[str, Any] | None:
        modals = get("views", user=user)["modals"]
        return modals[-1] if modals and workflow_id in modals[-1]["private_metadata"] else None

    form = _until("the Dismiss form", the_form)
    choices = [
        option["value"]
        for b in form["blocks"]
        if b.get("block_id") == "reason"
        for option in b["element"].get("options") or []
        if option["text"]["text"] == DEMO_DISMISS_REASON
    ]
    if not choices:
        raise StackError(f"the Dismiss form offers no “{DEMO_DISMISS_REASON}”: {form['blocks']}")
    sent = post(
        "views/submit", {"user": user, "view_id": form["id"], "values": {"reason": choices[0]}}
    )
    if not sent["closed"]:
        raise StackError(f"the gateway refused the Dismiss form: {sent}")

    def the_record() -> dict[str, Any] | None:
        for shown in get("messages", channel="gtm-alerts"):
            if shown["ts"] == message["ts"] and DEMO_DISMISS_REASON in json.dumps(shown):
                return dict(shown)
        return None

    _until("the alert to become the record of the dismissal", the_record)
    page = f"{stack.sandbox_url}/?channel=gtm-alerts&as={user}#m{message['ts']}"
    yield (
        f"Chat page: {name} (RevOps) pressed Dismiss on Zapier run 1 and chose "
        f"“{DEMO_DISMISS_REASON}” in its form; the alert now records who dismissed it, "
        f"when and why: {page}"
    )

    before = (get("views", user=user)["home"] or {}).get("hash")
    opened = post("home/open", user=user)
    if opened["status"] != 200:
        raise StackError(f"the gateway answered app_home_opened with {opened['status']}: {opened}")

    def the_home() -> dict[str, Any] | None:
        home = get("views", user=user)["home"]
        return dict(home) if home and home["hash"] != before else None

    home = _until(f"{name}'s Home tab", the_home)
    listed = {
        e["value"]
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("value")
    }
    yield (
        f"Home tab: {name.split()[0]}'s Home lists the {len(listed)} open remediations he may "
        f"act on, what waits for him first, each with the alert's buttons, then what closed "
        f"this week, the dismissal too: {stack.sandbox_url}/home?as={quote(user)} (or "
        f"Canary · Home in the chat page's left nav, acting as {name})"
    )
