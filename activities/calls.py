"""One outside call from an activity: in its own span, with the adapter's errors turned into
Temporal's retry decisions. An async adapter's call (Slack's) is awaited on the worker's loop;
a blocking SDK's (Stripe, Salesforce, the warehouse) runs in a thread.

Transient errors are retried by the workflow's policy (honouring the service's Retry-After);
permanent ones, and a setting a feature needs but lacks, fail at once (non-retryable) so the
workflow records them and asks a person.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from temporalio.exceptions import ApplicationError

from canary.adapters import PermanentError, TransientError
from canary.settings import MissingSettingError
from canary.telemetry import span

T = TypeVar("T")


def application_error(exc: TransientError | PermanentError) -> ApplicationError:
    """The retry decision an adapter error stands for."""
    if isinstance(exc, TransientError):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(str(exc), type=f"{exc.service}.transient", next_retry_delay=delay)
    return ApplicationError(
        str(exc),
        {"code": exc.code},
        type=f"{exc.service}.{exc.code or 'permanent'}",
        non_retryable=True,
    )


def configuration_error(exc: MissingSettingError) -> ApplicationError:
    # Retrying cannot conjure a setting: fail the step now, with the variable's name.
    return ApplicationError(str(exc), type="canary.missing_setting", non_retryable=True)


@overload
async def call(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...
@overload
async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...
async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Make an outside call, translating adapter errors: a coroutine function is awaited, a
    blocking one runs in a thread, off the event loop."""
    # One span per outside call (Stripe, Slack, Salesforce, …), a child of the activity's
    # span; the SDK's own HTTP spans (if any) nest under it (to_thread copies the context).
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "call"))
    with span(f"canary.{name}"):
        try:
            if inspect.iscoroutinefunction(fn):
                return await fn(*args, **kwargs)
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (TransientError, PermanentError) as exc:
            raise application_error(exc) from exc
        except MissingSettingError as exc:
            raise configuration_error(exc) from exc


def idempotency_key(attempt_key: str) -> str:
    """The key an outside write carries, derived from the workflow id and the step's attempt
    (never random). Stripe keys are at most 255 characters: long ones are hashed, not cut."""
    key = f"canary/{attempt_key}"
    if len(key) <= 255:
        return key
    return "canary/" + hashlib.sha256(attempt_key.encode()).hexdigest()
