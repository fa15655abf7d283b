"""The source of a detection (the workflow tool that reported the error): the ``source.retry``
step asks it to retry at the URL it gave."""

from __future__ import annotations

import httpx
from temporalio.exceptions import ApplicationError

from activities.calls import idempotency_key
from canary.models import StepInput, StepOutput


async def retry_at_source(request: StepInput) -> StepOutput:
    url = request.facts.get("retry_url") or request.detection.facts.get("retry_url")
    if not url:
        return StepOutput(
            ok=False,
            text=f"{request.detection.source} gave no retry URL: retry it there, then press "
            "Mark resolved.",
        )
    try:
        async with httpx.AsyncClient(timeout=15) as http:
            response = await http.post(
                str(url),
                json={"detection_id": request.detection.id, "workflow_id": request.workflow_id},
                headers={"Idempotency-Key": idempotency_key(request.attempt_key)},
            )
    except httpx.HTTPError as exc:
        raise ApplicationError(f"retry URL unreachable: {exc}", type="source.transient") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ApplicationError(
            f"retry URL answered {response.status_code}", type="source.transient"
        )
    ok = response.status_code < 300
    return StepOutput(
        ok=ok,
        resolved=ok,
        text=f"{request.detection.source} accepted the retry."
        if ok
        else f"{request.detection.source} refused the retry ({response.status_code}).",
    )
