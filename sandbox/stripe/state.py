"""One test-mode Stripe account: its objects, ids and clock, its events and idempotency cache."""

from __future__ import annotations

import json
import secrets
import string
import threading
import time

from sandbox.stripe import objects, versions
from sandbox.stripe.seed import SEED_CUSTOMERS, TEST_CARDS, TestCard, test_card
from sandbox.stripe.webhooks import WebhookSender
from sandbox.stripe.wire import Obj, metadata_param, missing

_ALPHABET = string.ascii_letters + string.digits

_PREFIX = {
    "customer": "cus",
    "payment_method": "pm",
    "invoiceitem": "ii",
    "invoice": "in",
    "payment_intent": "pi",
    "invoice_payment": "inpay",
    "charge": "ch",
    "price": "price",
    "product": "prod",
    "billing_portal.session": "bps",
    "webhook_endpoint": "we",
    "event": "evt",
    "request": "req",
}


class StripeState:
    """One test-mode Stripe account: objects, events, webhook endpoints, idempotency cache."""

    def __init__(self, public_url: str = "", seed: bool = True) -> None:
        self.lock = threading.RLock()
        self.public_url = public_url.rstrip("/")
        #: The account's API version: what a request without ``Stripe-Version`` speaks, what
        #: events are created in, and what an endpoint without its own ``api_version`` gets.
        self.api_version = versions.ACCOUNT_DEFAULT
        self.objects: dict[str, dict[str, Obj]] = {}
        self.idempotency: dict[str, tuple[str, int, Obj]] = {}
        self.in_flight: set[str] = set()
        self.webhooks = WebhookSender(self.lock)
        self._invoice_numbers = 0
        self._clock = 0
        self._seeded = seed
        if seed:
            self.seed()

    # -- basics ---------------------------------------------------------------------------

    def seed(self) -> None:
        for spec in SEED_CUSTOMERS:
            customer = self.customer_object(spec, spec["id"])
            self.objects.setdefault("customer", {})[customer["id"]] = customer

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.idempotency.clear()
            self.webhooks.deliveries.clear()
            self._invoice_numbers = 0
            self.api_version = versions.ACCOUNT_DEFAULT
            if self._seeded:
                self.seed()

    def close(self) -> None:
        self.webhooks.close()

    def next_invoice_number(self) -> int:
        self._invoice_numbers += 1
        return self._invoice_numbers

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

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        type_: str,
        obj: Obj,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        previous: Obj | None = None,
    ) -> Obj:
        """Record an event of ``obj`` as it is now, and deliver it to the endpoints listening,
        each in its own API version."""
        data: Obj = {"object": json.loads(json.dumps(obj))}
        if previous:
            data["previous_attributes"] = json.loads(json.dumps(previous))
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
                "api_version": self.api_version,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(endpoints),
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": type_,
            }
        )
        for endpoint in endpoints:
            version = endpoint["api_version"] or self.api_version
            delivered = versions.render({**event, "api_version": version}, version)
            self.webhooks.send(endpoint["url"], endpoint["_secret"], delivered)
        return event

    # -- object builders ------------------------------------------------------------------

    def customer_object(self, params: Obj, object_id: str | None = None) -> Obj:
        return objects.customer(
            object_id or self.new_id("customer"), params, metadata_param(params), self.now()
        )

    def payment_method_for(self, token_or_id: str, customer: str | None) -> Obj:
        """A fresh PaymentMethod for a test token (as Stripe does), or an existing one."""
        existing = self.objects.get("payment_method", {}).get(token_or_id)
        if existing is not None:
            return existing
        card = test_card(token_or_id)
        if card is None:
            raise missing("PaymentMethod", token_or_id, "payment_method")
        return self.put(
            objects.payment_method(
                self.new_id("payment_method"),
                token_or_id,
                card,
                customer,
                self.now(),
                time.gmtime().tm_year,
            )
        )

    def card_of(self, payment_method: Obj) -> TestCard:
        return test_card(payment_method.get("_test_token", "")) or TEST_CARDS["pm_card_visa"]

    def charge_card(self, payment_method: Obj) -> TestCard:
        """The card as the next charge of ``payment_method`` sees it, counting the charge (a
        card that declines its first N charges tells them apart by this count)."""
        earlier = int(payment_method.get("_charges", 0))
        payment_method["_charges"] = earlier + 1
        return self.card_of(payment_method).on_charge(earlier)


def public(obj: Obj) -> Obj:
    """An object as the API shows it (internal ``_`` fields stripped)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def previous_attributes(before: Obj, after: Obj) -> Obj:
    """What an ``*.updated`` event says changed: the earlier values of the fields that did
    (within a hash, only its changed keys; ``metadata`` whole)."""
    changed: Obj = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new or key.startswith("_"):
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "metadata":
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = old
    return changed
