"""Stripe's API (``/v1/…``) in test mode, as the official ``stripe`` SDK speaks it.

Form-encoded bodies with Stripe's bracket notation, ``Bearer sk_test_…`` keys (anything else is
refused the way Stripe refuses it), Stripe's error objects (``card_error`` with ``decline_code``
on 402, ``invalid_request_error`` with ``resource_missing`` on 404), cursor pagination
(``limit`` / ``starting_after`` / ``ending_before`` / ``has_more``), ``Idempotency-Key`` replay
with ``Idempotent-Replayed``, the test payment methods (``pm_card_visa``,
``pm_card_chargeDeclinedInsufficientFunds``, …), and events delivered to webhook endpoints,
signed with ``Stripe-Signature`` exactly like Stripe signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from sandbox.salesforce.seed import SEED_IDS

log = logging.getLogger(__name__)

API_VERSION = "2024-06-20"
_ALPHABET = string.ascii_letters + string.digits

Obj = dict[str, Any]


class StripeApiError(Exception):
    """An error answered in Stripe's shape: ``{"error": {"type", "code", "message", …}}``."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Obj = {"type": type_, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param
        self.body.update({k: v for k, v in extra.items() if v is not None})


def missing(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing", param
    )


# -- Stripe's form encoding -----------------------------------------------------------------

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _listify(value: Any) -> Any:
    """Turn ``{"0": a, "1": b}`` (from ``x[0]=a&x[1]=b``) into ``[a, b]``."""
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def decode_form(pairs: list[tuple[str, str]]) -> Obj:
    """Stripe's ``a[b][0]=c`` notation as nested dicts and lists."""
    out: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # ``x[]=a``: append
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                nxt = node.setdefault(part, {})
                if not isinstance(nxt, dict):
                    raise StripeApiError(
                        400,
                        "invalid_request_error",
                        f"Invalid {key}: mixes a value and a hash",
                        "parameter_invalid_string",
                        key,
                    )
                node = nxt
    return dict(_listify(out))


def _int(params: Obj, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"Invalid integer: {value}",
            "parameter_invalid_integer",
            name,
        ) from None
    if number < minimum:
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"This value must be greater than or equal to {minimum}.",
            "parameter_invalid_integer",
            name,
        )
    return number


def _bool(value: Any) -> bool:
    return str(value).lower() in {"true", "1", "yes"}


def _metadata(params: Obj, current: Obj | None = None) -> Obj:
    merged = dict(current or {})
    given = params.get("metadata")
    if given == "":  # ``metadata=`` unsets everything
        return {}
    if isinstance(given, dict):
        for key, value in given.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = str(value)
    return merged


# -- test cards -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    code: str | None = None  # error code on a charge; None when the charge succeeds
    decline_code: str | None = None
    message: str = ""
    outcome_type: str = "issuer_declined"


_DECLINED = "Your card was declined."
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard(
        "visa", "0002", "card_declined", "generic_decline", _DECLINED
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedFraudulent": TestCard(
        "visa", "0019", "card_declined", "fraudulent", _DECLINED, "blocked"
    ),
    "pm_card_chargeDeclinedStolenCard": TestCard(
        "visa", "9979", "card_declined", "stolen_card", _DECLINED
    ),
    "pm_card_chargeDeclinedLostCard": TestCard(
        "visa", "9987", "card_declined", "lost_card", _DECLINED
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_card_authenticationRequired": TestCard(
        "visa",
        "3184",
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


# -- state ----------------------------------------------------------------------------------

_PREFIX = {
    "customer": "cus",
    "payment_method": "pm",
    "invoiceitem": "ii",
    "invoice": "in",
    "payment_intent": "pi",
    "charge": "ch",
    "billing_portal.session": "bps",
    "webhook_endpoint": "we",
    "event": "evt",
    "request": "req",
}

#: Seeded customers, with the ids the Salesforce sandbox's accounts carry in
#: ``Stripe_Customer_Id__c`` and, the other way round, their Salesforce account id in metadata
#: (as Stripe's Salesforce connector writes it), so the demo's payments and its CRM agree.
SEED_CUSTOMERS: list[Obj] = [
    {
        "id": "cus_SbxGlobex000001",
        "name": "Globex Corporation",
        "email": "ap@globex.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["globex"],
            "owner_email": "alice@acme-gtm.example",
            "domain": "globex.example",
        },
    },
    {
        "id": "cus_SbxInitech00001",
        "name": "Initech",
        "email": "billing@initech.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["initech"],
            "owner_email": "alice@acme-gtm.example",
            "domain": "initech.example",
        },
    },
    {
        "id": "cus_SbxUmbrella0001",
        "name": "Umbrella Corp",
        "email": "finance@umbrella.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["umbrella"],
            "domain": "umbrella.example",
        },
    },
    {
        "id": "cus_SbxHooli0000001",
        "name": "Hooli",
        "email": "payables@hooli.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["hooli"],
            "owner_email": "alice@acme-gtm.example",
            "domain": "hooli.example",
        },
    },
    {
        "id": "cus_SbxWayne0000001",
        "name": "Wayne Enterprises",
        "email": "ap@wayne.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["wayne"],
            "domain": "wayne.example",
        },
    },
]


class StripeState:
    """One test-mode Stripe account: objects, events, webhook endpoints, idempotency cache."""

    def __init__(self, public_url: str = "", seed: bool = True) -> None:
        self.lock = threading.RLock()
        self.public_url = public_url.rstrip("/")
        self.objects: dict[str, dict[str, Obj]] = {}
        self.idempotency: dict[str, tuple[str, int, Obj]] = {}
        self.in_flight: set[str] = set()
        self.deliveries: list[Obj] = []
        self._invoice_numbers = 0
        self._clock = 0
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stripe-webhooks")
        self._http = httpx.Client(timeout=10)
        self._seeded = seed
        if seed:
            self.seed()

    # -- basics ---------------------------------------------------------------------------

    def seed(self) -> None:
        for spec in SEED_CUSTOMERS:
            customer = self._customer_object(spec, spec["id"])
            self.objects.setdefault("customer", {})[customer["id"]] = customer

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.idempotency.clear()
            self.deliveries.clear()
            self._invoice_numbers = 0
            if self._seeded:
                self.seed()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def now(self) -> int:
        # Strictly increasing ``created`` values keep list order stable within one second.
        with self.lock:
            self._clock = max(self._clock + 1, int(time.time()))
            return self._clock

    @staticmethod
    def new_id(kind: str) -> str:
        # One read of the system's randomness per id, not one per character.
        return f"{_PREFIX[kind]}_" + "".join(
            _ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(24)
        )

    def put(self, obj: Obj) -> Obj:
        self.objects.setdefault(obj["object"], {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, label: str | None = None) -> Obj:
        found = self.objects.get(kind, {}).get(object_id)
        if found is None or found.get("deleted"):
            raise missing(label or kind.replace("_", " "), object_id)
        return found

    def all(self, kind: str) -> list[Obj]:
        return list(self.objects.get(kind, {}).values())

    # -- events and webhooks --------------------------------------------------------------

    def emit(
        self,
        type_: str,
        obj: Obj,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        previous: Obj | None = None,
    ) -> Obj:
        data: Obj = {"object": json.loads(json.dumps(obj))}
        if previous:
            data["previous_attributes"] = previous
        endpoints = [
            e
            for e in self.all("webhook_endpoint")
            if e["status"] == "enabled"
            and ("*" in e["enabled_events"] or type_ in e["enabled_events"])
        ]
        event = self.put(
            {
                "id": self.new_id("event"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(endpoints),
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": type_,
            }
        )
        for endpoint in endpoints:
            self._executor.submit(self._deliver, endpoint["url"], endpoint["secret"], event)
        return event

    def sign(self, payload: bytes, secret: str, timestamp: int | None = None) -> str:
        ts = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={ts},v1={mac}"

    def _deliver(self, url: str, secret: str, event: Obj, attempts: int = 6) -> None:
        """POST the event like Stripe does, retrying failures with backoff (condensed from
        Stripe's three days into seconds)."""
        payload = json.dumps(event, indent=2).encode()
        record: Obj = {
            "event": event["id"],
            "type": event["type"],
            "url": url,
            "attempts": 0,
            "status": None,
            "delivered": False,
        }
        with self.lock:
            self.deliveries.append(record)
        delay = 0.25
        for _attempt in range(attempts):
            record["attempts"] += 1
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": self.sign(payload, secret),
            }
            try:
                response = self._http.post(url, content=payload, headers=headers)
                record["status"] = response.status_code
                if 200 <= response.status_code < 300:
                    record["delivered"] = True
                    return
            except httpx.HTTPError as exc:
                record["status"] = f"error: {exc.__class__.__name__}"
            except RuntimeError:  # the client closed: the sandbox is stopping
                return
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        log.warning("webhook %s for %s not delivered to %s", event["id"], event["type"], url)

    # -- object builders ------------------------------------------------------------------

    def _customer_object(self, params: Obj, object_id: str | None = None) -> Obj:
        return {
            "id": object_id or self.new_id("customer"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self.now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": (params.get("invoice_settings") or {}).get(
                    "default_payment_method"
                )
                or None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": _metadata(params),
            "name": params.get("name"),
            "phone": params.get("phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def payment_method_for(self, token_or_id: str, customer: str | None) -> Obj:
        """A fresh PaymentMethod for a test token (as Stripe does), or an existing one."""
        existing = self.objects.get("payment_method", {}).get(token_or_id)
        if existing is not None:
            return existing
        card = TEST_CARDS.get(token_or_id)
        if card is None:
            raise missing("PaymentMethod", token_or_id, "payment_method")
        return self.put(
            {
                "id": self.new_id("payment_method"),
                "object": "payment_method",
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "card": {
                    "brand": card.brand,
                    "checks": {"cvc_check": "pass"},
                    "country": "US",
                    "exp_month": 12,
                    "exp_year": time.gmtime().tm_year + 3,
                    "fingerprint": hashlib.sha1(token_or_id.encode()).hexdigest()[:16],
                    "funding": "credit",
                    "last4": card.last4,
                },
                "created": self.now(),
                "customer": customer,
                "livemode": False,
                "metadata": {},
                "type": "card",
                "_test_token": token_or_id,
            }
        )

    def card_of(self, payment_method: Obj) -> TestCard:
        return TEST_CARDS.get(payment_method.get("_test_token", ""), TEST_CARDS["pm_card_visa"])


def public(obj: Obj) -> Obj:
    """An object as the API shows it (internal ``_`` fields stripped)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# -- the API --------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    params: Obj
    request_id: str
    idempotency_key: str | None


Handler = Callable[[StripeState, Call, "re.Match[str]"], Obj]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}$"), fn))
        return fn

    return register


def paginate(state: StripeState, call: Call, items: list[Obj], url: str) -> Obj:
    limit = _int(call.params, "limit", 10, minimum=1) or 10
    if limit > 100:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This value must be less than or equal to 100.",
            "parameter_invalid_integer",
            "limit",
        )
    ordered = sorted(items, key=lambda o: (o.get("created", 0), o["id"]), reverse=True)
    after, before = call.params.get("starting_after"), call.params.get("ending_before")
    ids = [o["id"] for o in ordered]
    if after:
        if after not in ids:
            raise missing("object", after, "starting_after")
        ordered = ordered[ids.index(after) + 1 :]
        page, more = ordered[:limit], len(ordered) > limit
    elif before:
        if before not in ids:
            raise missing("object", before, "ending_before")
        ordered = ordered[: ids.index(before)]
        page, more = ordered[-limit:], len(ordered) > limit
    else:
        page, more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": [public(o) for o in page], "has_more": more, "url": url}


# customers -----------------------------------------------------------------------------------


@route("POST", "/v1/customers")
def create_customer(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    pm = (call.params.get("invoice_settings") or {}).get("default_payment_method")
    customer = state.put(state._customer_object(call.params))
    if pm:
        _attach(state, pm, customer["id"])
    if call.params.get("payment_method"):
        _attach(state, call.params["payment_method"], customer["id"])
    state.emit("customer.created", public(customer), call.request_id, call.idempotency_key)
    return customer


@route("GET", "/v1/customers/(?P<id>[^/]+)")
def get_customer(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("customer", m["id"])


@route("POST", "/v1/customers/(?P<id>[^/]+)")
def update_customer(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    customer = state.get("customer", m["id"])
    previous: Obj = {}
    for field in ("name", "email", "description", "phone"):
        if field in call.params:
            previous[field] = customer.get(field)
            customer[field] = call.params[field] or None
    if "metadata" in call.params:
        previous["metadata"] = dict(customer["metadata"])
        customer["metadata"] = _metadata(call.params, customer["metadata"])
    settings = call.params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id:
            pm = state.get("payment_method", pm_id, "PaymentMethod")
            if pm.get("customer") != customer["id"]:
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    "resource_missing",
                    "invoice_settings[default_payment_method]",
                )
        previous["invoice_settings"] = dict(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = pm_id
    state.emit(
        "customer.updated", public(customer), call.request_id, call.idempotency_key, previous
    )
    return customer


@route("GET", "/v1/customers")
def list_customers(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("customer")
    if call.params.get("email"):
        items = [c for c in items if c.get("email") == call.params["email"]]
    return paginate(state, call, items, "/v1/customers")


# payment methods -----------------------------------------------------------------------------


def _attach(state: StripeState, token_or_id: str, customer_id: str) -> Obj:
    state.get("customer", customer_id)
    pm = state.payment_method_for(token_or_id, customer_id)
    if pm.get("customer") and pm["customer"] != customer_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "The payment method you provided has already been attached to a customer.",
            "payment_method_unexpected_state",
        )
    pm["customer"] = customer_id
    return pm


@route("POST", "/v1/payment_methods/(?P<id>[^/]+)/attach")
def attach_payment_method(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    customer = call.params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    pm = _attach(state, m["id"], customer)
    state.emit("payment_method.attached", public(pm), call.request_id, call.idempotency_key)
    return pm


@route("GET", "/v1/payment_methods/(?P<id>[^/]+)")
def get_payment_method(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("payment_method", m["id"], "PaymentMethod")


@route("GET", "/v1/customers/(?P<id>[^/]+)/payment_methods")
def customer_payment_methods(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    state.get("customer", m["id"])
    items = [p for p in state.all("payment_method") if p.get("customer") == m["id"]]
    return paginate(state, call, items, f"/v1/customers/{m['id']}/payment_methods")


# invoice items and invoices -------------------------------------------------------------------


@route("POST", "/v1/invoiceitems")
def create_invoice_item(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    params = call.params
    customer = params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    state.get("customer", customer)
    amount = _int(params, "amount")
    if amount is None:
        quantity = _int(params, "quantity", 1) or 1
        unit = _int(params, "unit_amount")
        if unit is None:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: amount.",
                "parameter_missing",
                "amount",
            )
        amount = unit * quantity
    invoice_id = params.get("invoice")
    if invoice_id:
        invoice = state.get("invoice", invoice_id)
        if invoice["status"] != "draft":
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"You can only add invoice items to draft invoices; {invoice_id} is "
                f"{invoice['status']}.",
                "invoice_not_editable",
                "invoice",
            )
    item = state.put(
        {
            "id": state.new_id("invoiceitem"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": str(params.get("currency", "usd")).lower(),
            "customer": customer,
            "date": state.now(),
            "created": state.now(),
            "description": params.get("description"),
            "invoice": invoice_id,
            "livemode": False,
            "metadata": _metadata(params),
            "quantity": _int(params, "quantity", 1),
        }
    )
    if invoice_id:
        _add_line(state.get("invoice", invoice_id), item)
    return item


def _add_line(invoice: Obj, item: Obj) -> None:
    invoice["lines"]["data"].append(
        {
            "id": f"il_{item['id'][3:]}",
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "invoice_item": item["id"],
            "quantity": item["quantity"],
            "type": "invoiceitem",
        }
    )
    invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice.update(
        {
            "subtotal": total,
            "total": total,
            "amount_due": total,
            "amount_remaining": total - invoice["amount_paid"],
        }
    )
    if item["currency"]:
        invoice["currency"] = item["currency"]


@route("POST", "/v1/invoices")
def create_invoice(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    params = call.params
    customer_id = params.get("customer")
    if not customer_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    customer = state.get("customer", customer_id)
    method = params.get("collection_method", "charge_automatically")
    if method not in {"charge_automatically", "send_invoice"}:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Invalid collection_method: must be one of charge_automatically or send_invoice",
            "parameter_invalid_string",
            "collection_method",
        )
    invoice_id = state.new_id("invoice")
    invoice = state.put(
        {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Acme GTM (sandbox)",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": _bool(params.get("auto_advance", "false")),
            "billing_reason": "manual",
            "charge": None,
            "collection_method": method,
            "created": state.now(),
            "currency": str(params.get("currency", "usd")).lower(),
            "customer": customer_id,
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "default_payment_method": params.get("default_payment_method"),
            "description": params.get("description"),
            "due_date": _int(params, "due_date"),
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "lines": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": _metadata(params),
            "next_payment_attempt": None,
            "number": None,
            "paid": False,
            "payment_intent": None,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
            "subtotal": 0,
            "total": 0,
        }
    )
    # Since API version 2022-08-01 pending items are left out unless asked for.
    if params.get("pending_invoice_items_behavior") == "include":
        for item in state.all("invoiceitem"):
            if item["customer"] == customer_id and not item["invoice"]:
                item["invoice"] = invoice_id
                _add_line(invoice, item)
    state.emit("invoice.created", public(invoice), call.request_id, call.idempotency_key)
    return invoice


@route("GET", "/v1/invoices/(?P<id>[^/]+)")
def get_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    expand = call.params.get("expand") or []
    out = invoice
    for field in ("customer", "payment_intent"):
        if field in expand and isinstance(invoice.get(field), str):
            out = dict(out) if out is invoice else out
            out[field] = public(state.get(field, invoice[field]))
    return out


@route("GET", "/v1/invoices")
def list_invoices(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("invoice")
    for field in ("customer", "status", "collection_method"):
        if call.params.get(field):
            items = [i for i in items if i.get(field) == call.params[field]]
    return paginate(state, call, items, "/v1/invoices")


@route("POST", "/v1/invoices/(?P<id>[^/]+)/finalize")
def finalize_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] != "draft":
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            "invoice_not_editable",
        )
    finalize(state, invoice, call)
    return invoice


def finalize(state: StripeState, invoice: Obj, call: Call | None = None) -> None:
    state._invoice_numbers += 1
    customer = state.get("customer", invoice["customer"])
    now = state.now()
    invoice["number"] = f"{customer['invoice_prefix']}-{state._invoice_numbers:04d}"
    invoice["hosted_invoice_url"] = f"{state.public_url}/hosted/invoices/{invoice['id']}"
    invoice["invoice_pdf"] = f"{state.public_url}/hosted/invoices/{invoice['id']}/pdf"
    invoice["status_transitions"]["finalized_at"] = now
    if invoice["amount_due"] == 0:
        invoice.update({"status": "paid", "paid": True})
        invoice["status_transitions"]["paid_at"] = now
    else:
        invoice["status"] = "open"
        intent = state.put(
            {
                "id": state.new_id("payment_intent"),
                "object": "payment_intent",
                "amount": invoice["amount_due"],
                "amount_received": 0,
                "capture_method": "automatic",
                "created": now,
                "currency": invoice["currency"],
                "customer": invoice["customer"],
                "description": f"Payment for Invoice {invoice['number']}",
                "invoice": invoice["id"],
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": {"invoice_id": invoice["id"]},
                "payment_method": None,
                "receipt_email": customer.get("email"),
                "status": "requires_payment_method",
            }
        )
        invoice["payment_intent"] = intent["id"]
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    state.emit("invoice.finalized", public(invoice), request_id, key)


@route("POST", "/v1/invoices/(?P<id>[^/]+)/pay")
def pay_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] == "draft":
        finalize(state, invoice, call)
    if invoice["status"] == "paid":
        raise StripeApiError(400, "invalid_request_error", "Invoice is already paid")
    if invoice["status"] != "open":
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"You can only pay an open invoice; this one is {invoice['status']}.",
            "invoice_not_open",
        )
    if _bool(call.params.get("paid_out_of_band")):
        _mark_paid(state, invoice, None, call)
        return invoice
    customer = state.get("customer", invoice["customer"])
    pm_id = (
        call.params.get("payment_method")
        or invoice.get("default_payment_method")
        or customer["invoice_settings"]["default_payment_method"]
    )
    if not pm_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            "invoice_no_payment_method_types",
        )
    pm = state.payment_method_for(pm_id, customer["id"])
    if pm.get("customer") is None:
        pm["customer"] = customer["id"]
    charge(state, invoice, pm, call)
    return invoice


def charge(state: StripeState, invoice: Obj, pm: Obj, call: Call | None) -> Obj:
    """One attempt to collect the invoice with ``pm``. Raises a card error on a decline."""
    card = state.card_of(pm)
    intent = state.get("payment_intent", invoice["payment_intent"])
    now = state.now()
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    ch = state.put(
        {
            "id": state.new_id("charge"),
            "object": "charge",
            "amount": invoice["amount_remaining"],
            "amount_captured": 0,
            "billing_details": {
                "email": invoice.get("customer_email"),
                "name": invoice.get("customer_name"),
            },
            "captured": False,
            "created": now,
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "description": intent["description"],
            "failure_code": card.code,
            "failure_message": card.message or None,
            "invoice": invoice["id"],
            "livemode": False,
            "metadata": {},
            "outcome": {
                "network_status": "declined_by_network" if card.code else "approved_by_network",
                "reason": card.decline_code,
                "risk_level": "highest" if card.outcome_type == "blocked" else "normal",
                "seller_message": "The bank did not return any further details with this decline."
                if card.code
                else "Payment complete.",
                "type": card.outcome_type if card.code else "authorized",
            },
            "paid": card.code is None,
            "payment_intent": intent["id"],
            "payment_method": pm["id"],
            "receipt_email": invoice.get("customer_email"),
            "refunded": False,
            "status": "failed" if card.code else "succeeded",
        }
    )
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    invoice["charge"] = ch["id"]
    intent["latest_charge"] = ch["id"]
    intent["payment_method"] = pm["id"]
    if card.code is None:
        ch["amount_captured"] = ch["amount"]
        ch["captured"] = True
        intent.update(
            {"status": "succeeded", "amount_received": intent["amount"], "last_payment_error": None}
        )
        state.emit("charge.succeeded", public(ch), request_id, key)
        state.emit("payment_intent.succeeded", public(intent), request_id, key)
        _mark_paid(state, invoice, ch, call)
        return ch
    error: Obj = {
        "charge": ch["id"],
        "code": card.code,
        "decline_code": card.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{card.code.replace('_', '-')}",
        "message": card.message,
        "payment_method": public(pm),
        "type": "card_error",
    }
    intent["last_payment_error"] = error
    intent["status"] = (
        "requires_action" if card.code == "authentication_required" else "requires_payment_method"
    )
    if invoice["auto_advance"]:
        invoice["next_payment_attempt"] = now + 3 * 86400
    state.emit("charge.failed", public(ch), request_id, key)
    state.emit("payment_intent.payment_failed", public(intent), request_id, key)
    state.emit("invoice.payment_failed", public(invoice), request_id, key)
    raise StripeApiError(
        402,
        "card_error",
        card.message,
        card.code,
        None,
        decline_code=card.decline_code,
        charge=ch["id"],
        payment_intent=public(intent),
        payment_method=public(pm),
    )


def _mark_paid(state: StripeState, invoice: Obj, ch: Obj | None, call: Call | None) -> None:
    now = state.now()
    invoice.update(
        {
            "status": "paid",
            "paid": True,
            "paid_out_of_band": ch is None,
            "amount_paid": invoice["amount_due"],
            "amount_remaining": 0,
            "next_payment_attempt": None,
        }
    )
    invoice["status_transitions"]["paid_at"] = now
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    state.emit("invoice.paid", public(invoice), request_id, key)
    state.emit("invoice.payment_succeeded", public(invoice), request_id, key)


@route("POST", "/v1/invoices/(?P<id>[^/]+)/void")
def void_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] != "open":
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"You can only void an open invoice; this one is {invoice['status']}.",
            "invoice_not_open",
        )
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = state.now()
    state.emit("invoice.voided", public(invoice), call.request_id, call.idempotency_key)
    return invoice


# payment intents and charges ------------------------------------------------------------------


@route("GET", "/v1/payment_intents/(?P<id>[^/]+)")
def get_payment_intent(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("payment_intent", m["id"], "payment_intent")


@route("GET", "/v1/charges/(?P<id>[^/]+)")
def get_charge(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("charge", m["id"])


@route("GET", "/v1/charges")
def list_charges(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("charge")
    for field in ("customer", "payment_intent"):
        if call.params.get(field):
            items = [c for c in items if c.get(field) == call.params[field]]
    return paginate(state, call, items, "/v1/charges")


# billing portal ------------------------------------------------------------------------------


@route("POST", "/v1/billing_portal/sessions")
def create_portal_session(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    customer = call.params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    state.get("customer", customer)
    session_id = state.new_id("billing_portal.session")
    return state.put(
        {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": "bpc_sandbox_default",
            "created": state.now(),
            "customer": customer,
            "livemode": False,
            "locale": None,
            "return_url": call.params.get("return_url"),
            "url": f"{state.public_url}/billing_portal/sessions/{session_id}",
        }
    )


# webhook endpoints and events -----------------------------------------------------------------


@route("POST", "/v1/webhook_endpoints")
def create_webhook_endpoint(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    url = call.params.get("url")
    events = call.params.get("enabled_events")
    if not url:
        raise StripeApiError(
            400, "invalid_request_error", "Missing required param: url.", "parameter_missing", "url"
        )
    if not events:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: enabled_events.",
            "parameter_missing",
            "enabled_events",
        )
    # ``secret`` is a sandbox extension: like `stripe listen`, Canary picks the signing secret
    # so the gateway can be configured before the endpoint exists.
    secret = call.params.get("secret") or "whsec_" + secrets.token_hex(16)
    endpoint = state.put(
        {
            "id": state.new_id("webhook_endpoint"),
            "object": "webhook_endpoint",
            "api_version": call.params.get("api_version") or API_VERSION,
            "created": state.now(),
            "description": call.params.get("description"),
            "enabled_events": events if isinstance(events, list) else [events],
            "livemode": False,
            "metadata": _metadata(call.params),
            "secret": secret,
            "status": "enabled",
            "url": url,
        }
    )
    return endpoint


@route("GET", "/v1/webhook_endpoints")
def list_webhook_endpoints(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    listed = paginate(state, call, state.all("webhook_endpoint"), "/v1/webhook_endpoints")
    for item in listed["data"]:
        item.pop("secret", None)  # Stripe shows the secret only when the endpoint is created
    return listed


@route("DELETE", "/v1/webhook_endpoints/(?P<id>[^/]+)")
def delete_webhook_endpoint(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    state.get("webhook_endpoint", m["id"])
    del state.objects["webhook_endpoint"][m["id"]]
    return {"id": m["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/events/(?P<id>[^/]+)")
def get_event(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("event", m["id"])


@route("GET", "/v1/events")
def list_events(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("event")
    if call.params.get("type"):
        wanted = call.params["type"]
        items = [
            e
            for e in items
            if e["type"] == wanted or (wanted.endswith(".*") and e["type"].startswith(wanted[:-1]))
        ]
    return paginate(state, call, items, "/v1/events")


# -- dispatch -------------------------------------------------------------------------------


def authenticate(authorization: str | None) -> None:
    scheme, _, key = (authorization or "").partition(" ")
    if not key:
        raise StripeApiError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if scheme.lower() != "bearer" or not (key.startswith("sk_test_") or key.startswith("rk_test_")):
        shown = key[:7] + "*" * max(0, len(key) - 11) + key[-4:] if len(key) > 11 else key
        raise StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")


def params_of(method: str, query: str, body: bytes, content_type: str) -> Obj:
    pairs = parse_qsl(query, keep_blank_values=True)
    if method != "GET" and body:
        if "json" in content_type:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Invalid request: the body must be application/x-www-form-urlencoded, as "
                "Stripe's API expects.",
            )
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return decode_form(pairs)


def dispatch(
    state: StripeState, method: str, path: str, params: Obj, idempotency_key: str | None
) -> tuple[int, Obj, dict[str, str]]:
    """Run one API call: (status, body, extra headers). Applies idempotent replay for POSTs."""
    request_id = state.new_id("request")
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    fingerprint = json.dumps([method, path, params], sort_keys=True)
    if idempotency_key and method == "POST":
        with state.lock:
            cached = state.idempotency.get(idempotency_key)
            if cached is not None:
                if cached[0] != fingerprint:
                    error = StripeApiError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than "
                        f"'{idempotency_key}' if you meant to execute a different request.",
                    )
                    return error.status, {"error": error.body}, headers
                return cached[1], cached[2], {**headers, "Idempotent-Replayed": "true"}
            if idempotency_key in state.in_flight:
                error = StripeApiError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    "going through). Please retry the request in a few seconds.",
                )
                return error.status, {"error": error.body}, headers
            state.in_flight.add(idempotency_key)
    try:
        for route_method, pattern, handler in _ROUTES:
            if route_method != method:
                continue
            match = pattern.match(path)
            if match:
                call = Call(method, path, params, request_id, idempotency_key)
                try:
                    with state.lock:
                        status, body = 200, public(handler(state, call, match))
                except StripeApiError as exc:
                    status, body = (
                        exc.status,
                        {
                            "error": {
                                **exc.body,
                                "request_log_url": f"{state.public_url}/dashboard/logs/"
                                f"{request_id}",
                            }
                        },
                    )
                break
        else:
            status, body = (
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unrecognized request URL ({method}: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    }
                },
            )
        if idempotency_key and method == "POST" and status < 500:
            with state.lock:
                state.idempotency[idempotency_key] = (fingerprint, status, body)
        return status, body, headers
    finally:
        if idempotency_key and method == "POST":
            with state.lock:
                state.in_flight.discard(idempotency_key)
