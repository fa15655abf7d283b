"""Slack's rate limits: each Web API method belongs to a tier that allows so many calls a
minute per app and workspace, with bursts; ``chat.postMessage`` allows about one message a
second per channel, with short bursts. A call beyond its method's allowance is answered as
Slack answers it: HTTP 429, ``Retry-After`` (whole seconds) and ``{"ok": false, "error":
"ratelimited"}``.

Off unless enabled (``SandboxConfig.slack_rate_limits`` or ``POST /_sandbox/config``): a test
session and the demo start bursts of remediations on one sandbox, and a test that did not ask
for throttling should not wait on it. The test that exercises the limits turns them on with
rates small enough to meet.
"""

from __future__ import annotations

import math
import threading
import time

from pydantic import BaseModel, Field

#: Each method the sandbox serves, by Slack's tier (docs.slack.dev, each method's "Rate
#: limits"). Methods Slack lists as "special" without a figure are put in tier 4;
#: chat.postMessage has its own per-channel limit below.
METHOD_TIERS: dict[str, int] = {
    "api.test": 4,
    "apps.connections.open": 1,
    "auth.test": 4,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "conversations.list": 2,
    "conversations.info": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "users.list": 2,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
}
POST_MESSAGE = "chat.postMessage"


class SlackRateLimits(BaseModel):
    """How fast the sandbox's Slack lets each method be called."""

    enabled: bool = Field(False, description="Answer 429 beyond the limits below.")
    tier1: float = Field(1, gt=0, description="Tier 1 calls a minute (Slack: 1+).")
    tier2: float = Field(20, gt=0, description="Tier 2 calls a minute (Slack: 20+).")
    tier3: float = Field(50, gt=0, description="Tier 3 calls a minute (Slack: 50+).")
    tier4: float = Field(100, gt=0, description="Tier 4 calls a minute (Slack: 100+).")
    post_per_second: float = Field(
        1, gt=0, description="chat.postMessage, per channel: messages a second (Slack: 1)."
    )
    post_burst: int = Field(
        3, ge=1, description="chat.postMessage, per channel: a short burst allowed at once."
    )

    def allowance(self, method: str) -> tuple[float, float]:
        """(calls allowed at once, calls a second) for ``method``; a tier's burst is one
        minute's worth, spent then refilled evenly."""
        if method == POST_MESSAGE:
            return float(self.post_burst), self.post_per_second
        per_minute = float(getattr(self, f"tier{METHOD_TIERS.get(method, 4)}"))
        return per_minute, per_minute / 60.0


class RateLimiter:
    """A token bucket per method (and per channel for chat.postMessage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def take(self, limits: SlackRateLimits, method: str, channel: str = "") -> int | None:
        """Count one call: None when it is allowed, else the seconds Slack would ask the
        caller to wait (``Retry-After``)."""
        if not limits.enabled:
            return None
        burst, rate = limits.allowance(method)
        key = (method, channel if method == POST_MESSAGE else "")
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return None
            self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate))
