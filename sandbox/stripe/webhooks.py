"""Events delivered to webhook endpoints as Stripe delivers them: a JSON POST signed with
``Stripe-Signature``, retried with backoff until the endpoint answers 2xx, every delivery kept
for ``/_sandbox/stripe/deliveries``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from sandbox.stripe.wire import Obj

log = logging.getLogger(__name__)


class WebhookSender:
    """Sends events on background threads, so an API call never waits on an endpoint."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.deliveries: list[Obj] = []
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stripe-webhooks")
        self._http = httpx.Client(timeout=10)

    def send(self, url: str, secret: str, event: Obj) -> None:
        self._executor.submit(self._deliver, url, secret, event)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._http.close()

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
            "api_version": event["api_version"],
            "url": url,
            "attempts": 0,
            "status": None,
            "delivered": False,
            "payload": event,
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
