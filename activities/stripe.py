"""Stripe: the invoice and customer lookups of a diagnosis, the payment steps (retry the
payment, the payer's links, check the invoice, find a deal's payment), and the activity that
finds the invoice a payment intent pays.

Canary's calls speak the API version the SDK pins, in which an invoice's payments are
``invoice_payment`` objects and payment intents and charges name no invoice; what a webhook
endpoint of 2024-06-20 sends (an invoice naming its ``payment_intent``) is read too.
Every write carries an idempotency key derived from the workflow id and the step's attempt.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import application_error, call, idempotency_key
from activities.services import Services
from canary.adapters import PaymentDeclined, PermanentError, TransientError, format_amount
from canary.adapters.stripe_shapes import payment_intent_of_invoice, subscription_of_invoice
from canary.models import (
    AccountRef,
    CardUpdateInput,
    CardUpdateRouted,
    Detection,
    EnrichOutput,
    ExternalEvent,
    Link,
    PaymentAttemptInput,
    PaymentIntentInvoice,
    PaymentIntentRef,
    RoutedAttempt,
    StepInput,
    StepOutput,
)
from canary.recovery.timezones import known_timezone
from canary.rules.pipeline import payment_for_deal

#: The invoice's payments (an includable field) and the payment intent of each, expanded in
#: the invoice's own read (four levels, Stripe's deepest expansion).
PAYMENT_INTENTS = "payments.data.payment.payment_intent"


class StripeActivities:
    """The Stripe lookups a workflow calls itself (not through an SOP's enrichers or steps)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn(name="canary.invoice_of_payment_intent")
    async def invoice_of_payment_intent(self, request: PaymentIntentRef) -> PaymentIntentInvoice:
        """The invoice a payment intent pays, through its invoice payments
        (``GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=…``):
        how a payment intent's or a charge's failure, which names no invoice in today's API
        versions, finds the invoice's remediation."""
        found = await call(
            self.services.stripe.invoice_of_payment_intent, request.payment_intent_id
        )
        return PaymentIntentInvoice(payment_intent_id=request.payment_intent_id, invoice_id=found)

    @activity.defn(name="canary.route_payment_attempt")
    async def route_payment_attempt(self, request: PaymentAttemptInput) -> RoutedAttempt:
        """Join a payment intent's or a charge's failure to its remediation: the invoice's,
        as the same occurrence as the invoice's own failure event, when the payment intent
        pays one; its own otherwise. Signal-with-start, so a retry folds in nothing twice."""
        from starter.intake import submit_detection
        from starter.stripe_events import as_invoice_failure

        detection = request.detection
        payment_intent = detection.facts.get("payment_intent_id") or (
            detection.subject.id if detection.subject.kind == "payment_intent" else None
        )
        invoice_id = None
        if payment_intent:
            try:
                invoice_id = await call(
                    self.services.stripe.invoice_of_payment_intent, payment_intent
                )
            except ApplicationError as err:
                if not err.non_retryable:
                    raise  # Stripe down or slow: the workflow tries again
                # Refused for good (an id Stripe does not know): its own remediation says so.
                activity.logger.warning("payment intent %s: %s", payment_intent, err)
        if invoice_id:
            invoice = await call(self.services.stripe.invoice, invoice_id)
            attempt = invoice.get("attempt_count")
            detection = as_invoice_failure(
                detection, invoice_id, attempt if isinstance(attempt, int) else None
            )
        submitted = await submit_detection(
            self.services.require_temporal(),
            detection,
            self.services.settings,
            signed_by_stripe=request.signed_by_stripe,
        )
        return RoutedAttempt(workflow_id=submitted.workflow_id, invoice_id=invoice_id)

    @activity.defn(name="canary.route_card_update")
    async def route_card_update(self, request: CardUpdateInput) -> CardUpdateRouted:
        """Tell the remediations of the customer's open invoices that a new card is on file:
        each retries its payment on it once. One without an open remediation is left alone."""
        from starter.intake import signal_external
        from workflows.ids import remediation_id

        invoices = await call(self.services.stripe.customer_invoices, request.customer_id)
        event = ExternalEvent(
            kind="card_updated",
            source="stripe",
            event_id=request.event_id,
            occurred_at=request.occurred_at,
            evidence={"customer": request.customer_id}
            | ({"payment_method": request.payment_method_id} if request.payment_method_id else {}),
        )
        told: list[str] = []
        for invoice in invoices:
            if invoice.get("status") != "open":
                continue
            workflow_id = remediation_id("payment_failed", "invoice", str(invoice["id"]))
            if await signal_external(self.services.require_temporal(), workflow_id, event):
                told.append(workflow_id)
        return CardUpdateRouted(workflow_ids=told)


class StripeHandlers:
    """The SOP's ``stripe.*`` enrichers and step actions."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # -- enrichers ------------------------------------------------------------------------

    async def invoice(self, detection: Detection) -> EnrichOutput:
        """The invoice and its customer, read in one call, and (without a decline code) the
        payment intent of its latest payment; a detection that names no invoice but a customer
        reads the customer.

        What it returns goes into the remediation's history, so it is an allow-list of what
        Canary shows and acts on: ids, amounts, status, the decline, the hosted page, the
        account. The customer's e-mail, phone and address and the card's details, all on
        the objects Stripe returns, are left out."""
        found_id = invoice_id(detection)
        if not found_id:
            if _customer_id(detection):
                return await self.customer(detection)
            return EnrichOutput(facts={"invoice_lookup": "no invoice on this detection"})
        # Without a decline code, why it failed is on the payment intent of the invoice's
        # latest payment: its payments are included, each with its payment intent, in the
        # same call.
        needs_intent = not detection.facts.get("decline_code")
        expand = ["customer", PAYMENT_INTENTS] if needs_intent else ["customer"]
        invoice = await call(self.services.stripe.invoice, found_id, expand)
        customer = invoice.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        facts = {
            "invoice_id": invoice.get("id"),
            "invoice_number": invoice.get("number") or invoice.get("id"),
            "invoice_status": invoice.get("status"),
            "amount_due": invoice.get("amount_due"),
            "amount_remaining": invoice.get("amount_remaining"),
            "currency": invoice.get("currency"),
            "amount_display": format_amount(
                invoice.get("amount_remaining", invoice.get("amount_due")), invoice.get("currency")
            ),
            "attempt_count": invoice.get("attempt_count"),
            "hosted_invoice_url": invoice.get("hosted_invoice_url"),
            "customer_id": customer_id,
            "subscription_id": subscription_of_invoice(invoice),
        }
        if needs_intent:
            facts.update(await self._last_payment_error(invoice))
        account = AccountRef(stripe_customer_id=customer_id, name=invoice.get("customer_name"))
        found = EnrichOutput(
            facts={k: v for k, v in facts.items() if v is not None}, account=account
        )
        if isinstance(customer, dict) and not customer.get("deleted"):
            # The customer's own record knows more (its CRM account, its owner, its domain).
            known = _customer_facts(customer)
            assert known.account is not None
            found.facts.update(known.facts)
            found.account = known.account.filled_from(account)
        return found

    async def _last_payment_error(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Why the last attempt failed, from the invoice's payment intent.

        Today's versions list it under ``invoice.payments`` (newest first); 2024-06-20 named it
        as ``invoice.payment_intent``. Either way the decline code lives on the payment intent.
        """
        intent = payment_intent_of_invoice(invoice)
        if not intent:
            return {}
        # Expanded in place (an object), or only its id: then read it.
        found = (
            intent
            if isinstance(intent, dict)
            else await call(self.services.stripe.payment_intent, str(intent))
        )
        error = found.get("last_payment_error") or {}
        facts = {
            "payment_intent_id": found.get("id"),
            "decline_code": error.get("decline_code"),
            "error_code": error.get("code"),
            "decline_message": error.get("message"),
        }
        return {k: v for k, v in facts.items() if v}

    async def deal_payment(self, detection: Detection) -> EnrichOutput:
        """Whether Stripe shows the deal paid: the invoice the report names is paid and its
        metadata names this opportunity (or none). ``payment_confirmed`` whenever Stripe
        answered, ``payment_text`` says what it showed."""
        from starter.stripe_events import OPPORTUNITY_KEYS

        found_id = invoice_id(detection)
        if not found_id:
            return EnrichOutput(
                facts={"payment_confirmed": False, "payment_text": "the report names no invoice"}
            )
        try:
            invoice = await call(self.services.stripe.invoice, found_id)
        except ApplicationError as err:
            if err.type != "stripe.resource_missing":
                raise
            return EnrichOutput(
                facts={
                    "payment_confirmed": False,
                    "payment_text": f"Stripe has no invoice {found_id}",
                }
            )
        number = invoice.get("number") or invoice.get("id")
        metadata = invoice.get("metadata") or {}
        pays = next((str(metadata[k]) for k in OPPORTUNITY_KEYS if metadata.get(k)), None)
        deal = (
            detection.subject.id
            if detection.subject.kind == "opportunity"
            else detection.facts.get("opportunity_id")
        )
        if pays and deal and pays != str(deal):
            text = f"Stripe invoice {number} pays another opportunity ({pays})"
            return EnrichOutput(facts={"payment_confirmed": False, "payment_text": text})
        status = invoice.get("status")
        if status != "paid":
            text = f"Stripe shows invoice {number} {status or 'without a status'}"
            return EnrichOutput(facts={"payment_confirmed": False, "payment_text": text})
        amount = format_amount(invoice.get("amount_paid"), invoice.get("currency"))
        return EnrichOutput(
            facts={
                "payment_confirmed": True,
                "payment_text": f"Stripe shows invoice {number} paid ({amount})",
            }
        )

    async def customer(self, detection: Detection) -> EnrichOutput:
        customer_id = _customer_id(detection)
        if not customer_id:
            return EnrichOutput(facts={"customer_lookup": "no Stripe customer on this detection"})
        return _customer_facts(await call(self.services.stripe.customer, customer_id))

    # -- steps ----------------------------------------------------------------------------

    async def retry_payment(self, request: StepInput) -> StepOutput:
        found_id = invoice_id(request.detection, request.facts)
        if not found_id:
            raise ApplicationError("no invoice to retry on this remediation", non_retryable=True)
        key = idempotency_key(request.attempt_key)
        try:
            invoice = await asyncio.to_thread(self.services.stripe.pay_invoice, found_id, key)
        except PaymentDeclined as declined:
            return StepOutput(
                ok=False,
                text=f"Stripe declined the retry: {declined.message}"
                + (f" (decline code `{declined.decline_code}`)" if declined.decline_code else ""),
                error_code=declined.decline_code or declined.code,
                facts={"last_retry_decline_code": declined.decline_code},
            )
        except PermanentError as exc:
            if "already paid" in exc.detail.lower():
                return StepOutput(ok=True, resolved=True, text="The invoice was already paid.")
            raise application_error(exc) from exc
        except TransientError as exc:
            raise application_error(exc) from exc
        paid = invoice.get("status") == "paid"
        amount = format_amount(invoice.get("amount_paid"), invoice.get("currency"))
        return StepOutput(
            ok=paid,
            resolved=paid,
            text=f"Payment retried: {amount} collected."
            if paid
            else f"Payment retried; invoice is {invoice.get('status')}.",
            facts={"invoice_status": invoice.get("status"), "idempotency_key": key},
        )

    async def hosted_invoice_link(self, request: StepInput) -> StepOutput:
        found_id = invoice_id(request.detection, request.facts)
        url = request.facts.get("hosted_invoice_url")
        if not url and found_id:
            invoice = await call(self.services.stripe.invoice, found_id)
            url = invoice.get("hosted_invoice_url")
        if not url:
            return StepOutput(ok=False, text="Stripe has no hosted page for this invoice.")
        return StepOutput(
            ok=True,
            text="Hosted invoice page ready for the payer.",
            links=[Link(label="Hosted invoice page (send to the payer)", url=str(url))],
        )

    async def billing_portal_link(self, request: StepInput) -> StepOutput:
        customer = request.facts.get("customer_id") or request.detection.account.stripe_customer_id
        if not customer:
            return StepOutput(ok=False, text="No Stripe customer to create a card-update link for.")
        url = await call(
            self.services.stripe.billing_portal_link,
            str(customer),
            request.facts.get("hosted_invoice_url"),
            idempotency_key(request.attempt_key),
        )
        return StepOutput(
            ok=True,
            text="Card-update link created for the customer.",
            links=[Link(label="Card-update link (billing portal)", url=url)],
        )

    async def check_invoice_paid(self, request: StepInput) -> StepOutput:
        found_id = invoice_id(request.detection, request.facts)
        if not found_id:
            return StepOutput(ok=False, text="No invoice to check.")
        invoice = await call(self.services.stripe.invoice, found_id)
        paid = invoice.get("status") == "paid"
        return StepOutput(ok=True, resolved=paid, text=f"Invoice is {invoice.get('status')}.")

    async def find_deal_payment(self, request: StepInput) -> StepOutput:
        """Look in Stripe again for the payment of a Closed Won deal (same judgement as the
        pipeline sweep that raised it)."""
        customer = request.facts.get("stripe_customer") or (
            request.detection.account.stripe_customer_id
        )
        if not customer:
            return StepOutput(
                ok=False,
                text="The account has no Stripe customer yet: create the customer and invoice "
                "in Stripe (or link the right customer in Salesforce), then check again.",
            )
        invoices = await call(self.services.stripe.customer_invoices, str(customer))
        closed = request.facts.get("opportunity_close_date")
        paid, unpaid = payment_for_deal(
            str(request.facts.get("opportunity_id") or request.detection.subject.id),
            date.fromisoformat(str(closed)[:10]) if closed else date.min,
            request.facts.get("stripe_invoice_id"),
            invoices,
            int(request.facts.get("paid_before_close_days") or 0),
        )
        if paid is not None:
            amount = format_amount(paid.get("amount_paid"), paid.get("currency"))
            return StepOutput(
                ok=True,
                resolved=True,
                text=f"Stripe shows invoice {paid['id']} paid ({amount}).",
                facts={"invoice_id": paid["id"], "invoice_status": "paid"},
            )
        return StepOutput(
            ok=False,
            text=f"Still no payment in Stripe for {customer}"
            + (f"; {len(unpaid)} invoice(s) open." if unpaid else "; no open invoice either."),
        )


def invoice_id(detection: Detection, facts: dict[str, Any] | None = None) -> str | None:
    """The Stripe invoice a remediation is about: its subject, or one its facts name."""
    if detection.subject.kind == "invoice":
        return detection.subject.id
    for source in (facts or {}, detection.facts):
        if source.get("invoice_id"):
            return str(source["invoice_id"])
    return None


def _customer_id(detection: Detection) -> str | None:
    found = detection.account.stripe_customer_id or detection.facts.get("customer_id")
    return str(found) if found else None


def _customer_facts(customer: dict[str, Any]) -> EnrichOutput:
    """What a Stripe customer tells about its account: the CRM account, owner and domain its
    metadata names (else the domain of its billing e-mail), its name, and the payer's timezone
    (``metadata.timezone``, kept only when it is an IANA name zoneinfo knows: the retry plans
    schedule in it). The e-mail, phone and address themselves are not kept: nothing Canary
    shows uses them."""
    metadata = customer.get("metadata") or {}
    domain = None
    if customer.get("email") and "@" in customer["email"]:
        domain = customer["email"].split("@", 1)[1]
    account = AccountRef(
        stripe_customer_id=customer.get("id"),
        name=customer.get("name"),
        domain=metadata.get("domain") or domain,
        crm_id=metadata.get("salesforce_account_id") or metadata.get("crm_id"),
        app_account_id=metadata.get("app_account_id"),
        owner_email=metadata.get("owner_email"),
    )
    facts = {
        "customer_name": customer.get("name"),
        "customer_timezone": known_timezone(metadata.get("timezone")),
    }
    return EnrichOutput(facts={k: v for k, v in facts.items() if v}, account=account)
