"""Stripe through the official SDK's StripeClient. Returns plain dicts, never SDK objects.

The same code reaches api.stripe.com or the local sandbox: only ``api_base`` differs. Every id
is checked against its object's shape (``in_…``, ``cus_…``, ``pi_…``) before it goes into a
path or a query.

Calls go through the client's ``raw_request`` (its authentication, API version, idempotency
keys and error classes) and keep the answer as the JSON it parsed: Canary reads plain dicts,
and building the SDK's objects to turn them back into dicts was a third of a lookup's CPU.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import stripe

from canary import ids
from canary.adapters.errors import PaymentDeclined, PermanentError, TransientError
from canary.adapters.sessions import pooled_session

SERVICE = "stripe"

#: Retrying a charge on these decline codes can never succeed, and may look like card testing.
NO_RETRY_DECLINES = frozenset(
    {"fraudulent", "stolen_card", "lost_card", "pickup_card", "merchant_blacklist"}
)


def checked_id(value: object, role: str, kind: str) -> str:
    """``value`` when it is a Stripe id of ``kind``; a permanent error naming its role otherwise,
    never repeating the value."""
    try:
        return ids.stripe_id(value, role, kind)
    except ids.InvalidId as err:
        raise PermanentError(
            SERVICE, f"the {err}, so Canary did not send the request", "invalid_id"
        ) from None


def _translate(exc: stripe.StripeError) -> Exception:
    """Map the SDK's error classes onto retry semantics."""
    if isinstance(exc, stripe.CardError):
        return PaymentDeclined(
            exc.user_message or str(exc), exc.code, getattr(exc.error, "decline_code", None)
        )
    message = exc.user_message or str(exc)
    code = exc.code
    if isinstance(exc, stripe.RateLimitError):
        retry_after = None
        if exc.headers and exc.headers.get("retry-after"):
            try:
                retry_after = float(exc.headers["retry-after"])
            except ValueError:
                retry_after = None
        return TransientError(SERVICE, message, code, retry_after)
    if isinstance(exc, stripe.APIConnectionError):
        return TransientError(SERVICE, f"could not reach Stripe: {message}", code)
    if isinstance(exc, stripe.IdempotencyError):
        if exc.http_status == 409:
            # Another request with this key is still in flight (a retry racing the original,
            # say after a worker died mid-call); Stripe asks to retry in a few seconds.
            return TransientError(SERVICE, message, code or "idempotency_key_in_use")
        return PermanentError(SERVICE, message, code or "idempotency_error")
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return PermanentError(SERVICE, f"Stripe refused the API key: {message}", code)
    if isinstance(exc, stripe.InvalidRequestError):
        return PermanentError(SERVICE, message, code)
    if isinstance(exc, stripe.APIError):
        # A 5xx, or an answer the SDK could not read (a body cut short on the way, even with
        # a 200): nothing says the request was wrong, and idempotency keys make a retry safe.
        return TransientError(SERVICE, message, code)
    status = exc.http_status or 0
    if status >= 500 or status == 0:
        return TransientError(SERVICE, message, code)
    return PermanentError(SERVICE, message, code)


#: The API version Canary's calls speak: the one the installed SDK pins, a new account's
#: default. In it an invoice names neither its payment intent nor its charge (its payments are
#: invoice payments), and payment intents and charges name no invoice.
STRIPE_API_VERSION: str = stripe.api_version


def _path(checked: str) -> str:
    """A checked id as a path segment (ids are letters, digits and ``_``; quoted all the same)."""
    return quote(checked, safe="")


class StripeAdapter:
    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        session = pooled_session(api_base or stripe.DEFAULT_API_BASE)
        # The SDK's own network retries are off: Temporal's retry policy owns retrying, and
        # idempotency keys (derived from the workflow) make those retries safe.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=0,
            stripe_version=STRIPE_API_VERSION,
            http_client=stripe.RequestsClient(session=session),
        )

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """The object Stripe answers ``method path`` with, as the JSON it sent."""
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            answer = self._client.raw_request(method, path, **(params or {}), **options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        data = answer.data
        if not isinstance(data, dict):
            raise TransientError(SERVICE, f"Stripe answered {path} with no object", "bad_answer")
        return data

    def customer_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """Every invoice of a customer (all pages), as the plain rows the sweeps compare."""
        customer_id = checked_id(customer_id, "customer id", "customer")
        try:
            page = self._client.v1.invoices.list(params={"customer": customer_id, "limit": 100})
            invoices = [i.to_dict() for i in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return [
            {
                "id": i["id"],
                "customer": i.get("customer"),
                "status": i.get("status"),
                "amount_due": i.get("amount_due"),
                "amount_paid": i.get("amount_paid"),
                "currency": i.get("currency"),
                "created": i.get("created"),
                "paid_at": (i.get("status_transitions") or {}).get("paid_at"),
                "opportunity_id": (i.get("metadata") or {}).get("salesforce_opportunity_id"),
                "hosted_invoice_url": i.get("hosted_invoice_url"),
            }
            for i in invoices
        ]

    def invoice(self, invoice_id: str, expand: list[str] | None = None) -> dict[str, Any]:
        invoice_id = checked_id(invoice_id, "invoice id", "invoice")
        params = {"expand": expand} if expand else None
        return self._request("get", f"/v1/invoices/{_path(invoice_id)}", params)

    def invoice_of_payment_intent(self, payment_intent_id: str) -> str | None:
        """The invoice a payment intent pays, found through its invoice payments; None when it
        pays none (a payment made outside invoicing)."""
        payment_intent_id = checked_id(payment_intent_id, "payment intent id", "payment_intent")
        found = self._request(
            "get",
            "/v1/invoice_payments",
            {
                "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                "limit": 1,
            },
        )
        for payment in found.get("data") or []:
            invoice = payment.get("invoice")
            invoice_id = invoice.get("id") if isinstance(invoice, dict) else invoice
            if invoice_id:
                return checked_id(invoice_id, "invoice id", "invoice")
        return None

    def customer(self, customer_id: str) -> dict[str, Any]:
        customer_id = checked_id(customer_id, "customer id", "customer")
        return self._request("get", f"/v1/customers/{_path(customer_id)}")

    def payment_method(self, payment_method_id: str) -> dict[str, Any]:
        payment_method_id = checked_id(payment_method_id, "payment method id", "payment_method")
        return self._request("get", f"/v1/payment_methods/{_path(payment_method_id)}")

    def set_invoice_metadata(
        self, invoice_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        """Set these metadata keys on the invoice (the others stay as they are)."""
        invoice_id = checked_id(invoice_id, "invoice id", "invoice")
        return self._request(
            "post", f"/v1/invoices/{_path(invoice_id)}", {"metadata": metadata}, idempotency_key
        )

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        payment_intent_id = checked_id(payment_intent_id, "payment intent id", "payment_intent")
        return self._request("get", f"/v1/payment_intents/{_path(payment_intent_id)}")

    def pay_invoice(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        """Attempt the invoice's payment again. Raises :class:`PaymentDeclined` on a decline."""
        invoice_id = checked_id(invoice_id, "invoice id", "invoice")
        return self._request(
            "post", f"/v1/invoices/{_path(invoice_id)}/pay", idempotency_key=idempotency_key
        )

    def billing_portal_link(
        self, customer_id: str, return_url: str | None, idempotency_key: str
    ) -> str:
        params: dict[str, Any] = {"customer": checked_id(customer_id, "customer id", "customer")}
        if return_url:
            params["return_url"] = return_url
        session = self._request("post", "/v1/billing_portal/sessions", params, idempotency_key)
        return str(session["url"])
