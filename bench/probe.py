"""What the benchmark reads from and feeds to the sandbox: failed invoices (through Stripe's
API, as a customer's bank would cause them), Stripe's own event bodies, signed like Stripe
signs them, and the sandbox's recording of every Slack and Stripe call it received."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import stripe
from stripe.params import EventListParams

OWNER_EMAIL = "alice@acme-gtm.example"
OWNER_SLACK = "U0ALICE"


def at_seconds(entry: dict[str, Any]) -> float:
    """The wall-clock time the sandbox recorded a call (epoch seconds, ms resolution)."""
    return datetime.fromisoformat(entry["at"]).timestamp()


def metadata_key(entry: dict[str, Any]) -> str | None:
    body = entry.get("body") or {}
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None
    if not isinstance(metadata, dict):
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return str(key) if key else None


def split_key(key: str) -> tuple[str, str]:
    """``canary/<workflow id>/<run>/<step>/<n>`` or ``<workflow id>/<run>/<kind>[/<n>]`` →
    (workflow id, kind): what a call was for, whichever run made it."""
    parts = key.removeprefix("canary/").split("/")
    return parts[0], "/".join(parts[2:])


def stripe_signature(payload: bytes, secret: str) -> str:
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def webhook_body(event: dict[str, Any]) -> bytes:
    """The bytes Stripe (and the sandbox) send: the event, pretty-printed (the SDK reads
    Stripe's decimal strings as Decimal; they go back as strings)."""
    return json.dumps(event, indent=2, default=str).encode()


class Invoices:
    """Failed invoices made through the sandbox's Stripe API with the real SDK."""

    def __init__(self, sandbox_url: str, api_key: str) -> None:
        self.client = stripe.StripeClient(api_key, base_addresses={"api": sandbox_url})

    def customer(self, n: int) -> str:
        customer = self.client.v1.customers.create(
            params={
                "name": f"Bench Customer {n:04d}",
                "email": f"ap@bench{n:04d}.example",
                "metadata": {"owner_email": OWNER_EMAIL, "domain": f"bench{n:04d}.example"},
            }
        )
        method = self.client.v1.payment_methods.attach(
            "pm_card_chargeDeclinedInsufficientFunds", params={"customer": customer.id}
        )
        self.client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
        )
        return str(customer.id)

    def failed_invoice(self, customer: str, n: int) -> str:
        invoice = self.client.v1.invoices.create(
            params={
                "customer": customer,
                "collection_method": "charge_automatically",
                "auto_advance": False,
                "description": f"Bench invoice {n}",
            }
        )
        assert invoice.id is not None
        self.client.v1.invoice_items.create(
            params={
                "customer": customer,
                "invoice": invoice.id,
                # $1,000 and up: the payment_failed SOP alerts at once (loud_when) instead of
                # retrying quietly on the recovery plan, so every invoice makes an alert.
                "amount": 100_000 + n,
                "currency": "usd",
                "description": f"Bench plan {n}",
            }
        )
        self.client.v1.invoices.finalize_invoice(invoice.id)
        try:
            self.client.v1.invoices.pay(invoice.id)
        except stripe.CardError:
            pass  # the decline is the point: Stripe records invoice.payment_failed
        return invoice.id

    def make(self, count: int, customers: int = 20, threads: int = 8) -> list[str]:
        with ThreadPoolExecutor(threads) as pool:
            owners = list(pool.map(self.customer, range(min(customers, count) or 1)))
            return list(
                pool.map(lambda n: self.failed_invoice(owners[n % len(owners)], n), range(count))
            )

    def failure_events(self) -> dict[str, dict[str, Any]]:
        """invoice.payment_failed events by invoice id, as Stripe's API lists them."""
        found: dict[str, dict[str, Any]] = {}
        params: EventListParams = {"type": "invoice.payment_failed", "limit": 100}
        while True:
            page = self.client.v1.events.list(params=params)
            for event in page.data:
                data = event.to_dict()
                found.setdefault(data["data"]["object"]["id"], data)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id


class Stream:
    """One filtered stream of the sandbox's recording (say, every chat.postMessage), read
    incrementally with ``since_id`` and indexed by the call's metadata or idempotency key."""

    def __init__(self, http: httpx.AsyncClient, sandbox_url: str, **filters: str) -> None:
        self.http = http
        self.url = f"{sandbox_url}/_sandbox/requests"
        self.filters = filters
        self.cursor = 0
        self.by_key: dict[str, dict[str, Any]] = {}
        self.by_subject: dict[tuple[str, str], dict[str, Any]] = {}

    async def poll(self) -> int:
        response = await self.http.get(self.url, params={"since_id": self.cursor, **self.filters})
        response.raise_for_status()
        entries = response.json()
        for entry in entries:
            self.cursor = max(self.cursor, entry["id"])
            key = metadata_key(entry) or entry.get("idempotency_key")
            if key and key not in self.by_key:
                answer = entry.get("response") if isinstance(entry.get("response"), dict) else {}
                found = {
                    "id": entry["id"],
                    "at": at_seconds(entry),
                    "status": entry.get("status"),
                    "ok": answer.get("ok"),
                    "ts": answer.get("ts"),
                    "channel": answer.get("channel"),
                    "path": entry.get("path"),
                }
                self.by_key[key] = found
                self.by_subject.setdefault(split_key(key), found)
        return len(entries)

    async def skip_existing(self) -> None:
        await self.poll()

    async def wait(
        self, keys: set[tuple[str, str]], timeout: float, interval: float = 0.01
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Poll until a call for each (workflow id, kind) was recorded; their entries."""
        deadline = time.monotonic() + timeout
        while True:
            missing = keys - self.by_subject.keys()
            if not missing:
                return {key: self.by_subject[key] for key in keys}
            if time.monotonic() > deadline:
                shown = sorted(missing)[:3]
                raise TimeoutError(f"{len(missing)} calls never reached the sandbox: {shown}")
            await asyncio.sleep(interval)
            await self.poll()

    def count(self, keys: set[tuple[str, str]]) -> int:
        return len(keys & self.by_subject.keys())
