"""What the sandbox saw, and what it is told to get wrong.

Every call to the Stripe and Slack stand-ins is recorded (method, path, parsed body, the
idempotency key, the signature headers, the answer) so tests assert on what the outside world
received rather than on what Canary believes it sent. Faults make a service answer 500, 429
with ``Retry-After``, a malformed body, or slowly, for a number of calls.
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Service = Literal["stripe", "slack", "salesforce", "hosted", "webhook", "interactivity"]

#: Headers worth keeping in a recording; secrets are masked, not dropped, so a test sees
#: that a credential was sent without the recording leaking it.
_KEPT_HEADERS = {
    "authorization",
    "idempotency-key",
    "stripe-version",
    "stripe-signature",
    "content-type",
    "user-agent",
    "x-slack-signature",
    "x-slack-request-timestamp",
}


def mask(value: str) -> str:
    scheme, _, token = value.partition(" ")
    if token:
        return f"{scheme} {token[:8]}…" if len(token) > 8 else f"{scheme} …"
    return value[:8] + "…" if len(value) > 8 else "…"


class Fault(BaseModel):
    """Make matching calls fail: the next ``times`` calls (or all, when None)."""

    service: Literal["stripe", "slack", "salesforce"]
    path: str = Field("", description="Applies to paths starting with this ('' = every path).")
    method: str | None = Field(None, description="Only this HTTP method (GET, POST, …).")
    status: int = Field(500, description="HTTP status to answer with.")
    error_code: str | None = Field(
        None,
        description="The error the body names: Salesforce's errorCode (REQUEST_LIMIT_EXCEEDED, "
        "UNABLE_TO_LOCK_ROW, …), Slack's error, Stripe's code. None: the service's usual one "
        "for the status.",
    )
    retry_after: float | None = Field(None, description="Retry-After header (seconds), for 429.")
    delay: float = Field(0.0, description="Seconds to wait before answering (or timing out).")
    malformed: bool = Field(False, description="Answer 200 with a body that is not JSON.")
    passthrough: bool = Field(
        False, description="After the delay, serve the call normally (a slow, not failed, call)."
    )
    respond_after: float = Field(
        0.0,
        description="With passthrough: serve the call, then wait this long before answering "
        "(the caller may time out or die meanwhile, after the effect happened).",
    )
    times: int | None = Field(1, description="How many calls to affect; None for all.")
    skip: int = Field(0, ge=0, description="Let this many matching calls through first.")
    hits: int = 0
    skipped: int = 0


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.entries: list[dict[str, Any]] = []
        self.faults: list[Fault] = []

    def record(
        self,
        service: str,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        status: int,
        response: Any = None,
        fault: bool = False,
    ) -> dict[str, Any]:
        kept = {
            k.lower(): (mask(v) if k.lower() == "authorization" else v)
            for k, v in (headers or {}).items()
            if k.lower() in _KEPT_HEADERS
        }
        entry = {
            "id": 0,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "service": service,
            "method": method.upper(),
            "path": path,
            "query": query or {},
            "headers": kept,
            "idempotency_key": kept.get("idempotency-key"),
            "body": body,
            "status": status,
            "response": response,
            "fault": fault,
        }
        with self._lock:
            # Numbered as appended, so the entries stay in id order for find(since_id=…).
            entry["id"] = next(self._ids)
            self.entries.append(entry)
        return entry

    def find(
        self,
        service: str | None = None,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        since_id: int = 0,
    ) -> list[dict[str, Any]]:
        with self._lock:
            # A poller asks for what is new since its last read: skip the rest by id.
            start = bisect.bisect_right(self.entries, since_id, key=lambda e: e["id"])
            entries = self.entries[start:]
        return [
            e
            for e in entries
            if (service is None or e["service"] == service)
            and (method is None or e["method"] == method.upper())
            and (path is None or e["path"] == path)
            and (path_prefix is None or e["path"].startswith(path_prefix))
            and e["id"] > since_id
        ]

    def count(self, service: str | None = None, since_id: int = 0) -> dict[str, int]:
        """How many calls each path received since ``since_id`` (of ``service``), and the
        id of the last call counted (``last_id``), to count from next time."""
        counted: dict[str, int] = {}
        last = since_id
        for entry in self.find(service, since_id=since_id):
            counted[entry["path"]] = counted.get(entry["path"], 0) + 1
            last = entry["id"]
        return {"last_id": last, **dict(sorted(counted.items()))}

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    # -- faults ---------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, service: str, method: str, path: str) -> Fault | None:
        """The fault this call should suffer, counting it as used."""
        with self._lock:
            for fault in self.faults:
                if fault.service != service or not path.startswith(fault.path):
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if fault.skipped < fault.skip:
                    fault.skipped += 1
                    continue
                fault.hits += 1
                return fault.model_copy()
        return None


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON or form bodies as data, for recordings."""
    if not raw:
        return None
    if "json" in content_type:
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")[:2000]
    if "x-www-form-urlencoded" in content_type:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return raw.decode("utf-8", "replace")[:2000]
