"""The source of a detection (the workflow tool that reported the error): the ``source.retry``
step asks it to retry at the URL it gave.

The URL comes from outside, so it is called only through :class:`OutboundGuard`: https, a host
in ``CANARY_RETRY_HOSTS``, public addresses only, no redirects, a short timeout. What goes back
to the timeline and Slack is the answer's status class, never its body.
"""

from __future__ import annotations

import httpx
from temporalio.exceptions import ApplicationError

from activities.calls import idempotency_key
from canary.adapters.outbound import OutboundGuard, OutboundRefused, status_class
from canary.models import StepInput, StepOutput
from canary.settings import get_settings


def retry_guard() -> OutboundGuard:
    """The guard a retry URL passes, from ``CANARY_RETRY_HOSTS``."""
    return OutboundGuard.for_hosts(get_settings().retry_hosts, setting="CANARY_RETRY_HOSTS")


async def retry_at_source(request: StepInput, guard: OutboundGuard | None = None) -> StepOutput:
    source = request.detection.source
    url = request.facts.get("retry_url") or request.detection.facts.get("retry_url")
    if not url:
        return StepOutput(
            ok=False,
            text=f"{source} gave no retry URL: retry it there, then press Mark resolved.",
        )
    try:
        async with (guard or retry_guard()).post(
            str(url),
            json={"detection_id": request.detection.id, "workflow_id": request.workflow_id},
            headers={"Idempotency-Key": idempotency_key(request.attempt_key)},
        ) as response:
            status = response.status_code
    except OutboundRefused as exc:
        # Retrying cannot make a refused URL acceptable: fail the step now, saying why.
        raise ApplicationError(
            f"retry URL refused: {exc}", type="source.refused", non_retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise ApplicationError(
            f"retry URL unreachable: {exc or type(exc).__name__}", type="source.transient"
        ) from exc
    answered = f"the source answered {status_class(status)}"
    if status >= 500 or status == 429:
        raise ApplicationError(f"retry not accepted yet: {answered}", type="source.transient")
    if 300 <= status < 400:
        return StepOutput(
            ok=False,
            text=f"{source} did not accept the retry ({answered}, a redirect, which Canary "
            "does not follow): retry it there, then press Mark resolved.",
        )
    ok = status < 300
    return StepOutput(
        ok=ok,
        resolved=ok,
        text=f"{source} accepted the retry ({answered})."
        if ok
        else f"{source} refused the retry ({answered}).",
    )
