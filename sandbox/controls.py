"""The sandbox's own endpoints under ``/_sandbox``: what tests and the demo use to look inside
(every recorded call), to break things (faults), to point chat-page clicks at an app, and to
start over."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sandbox.deps import SandboxDep
from sandbox.recorder import Fault
from sandbox.slack.ratelimits import SlackRateLimits

router = APIRouter(tags=["sandbox"])


class ConfigUpdate(BaseModel):
    slack_interactivity_url: str | None = None
    slack_command_url: str | None = None
    slack_signing_secret: str | None = None
    slack_rate_limits: SlackRateLimits | None = None


@router.get("/_sandbox/requests")
async def recorded(
    sandbox: SandboxDep,
    service: str | None = None,
    method: str | None = None,
    path: str | None = None,
    path_prefix: str | None = None,
    since_id: int = 0,
) -> list[dict[str, Any]]:
    """Every call the services received, oldest first, with parsed bodies and the
    idempotency key; filter by service, method, exact path or path prefix."""
    return sandbox.recorder.find(service, method, path, path_prefix, since_id)


@router.get("/_sandbox/requests/count")
async def counted(
    sandbox: SandboxDep, service: str | None = None, since_id: int = 0
) -> dict[str, int]:
    """How many calls each path received (of ``service``, after ``since_id``), and
    ``last_id``: the calls themselves stay here, however many a benchmark made."""
    return sandbox.recorder.count(service, since_id)


@router.delete("/_sandbox/requests")
async def forget(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.recorder.clear()
    return {"ok": True}


@router.get("/_sandbox/faults")
async def faults(sandbox: SandboxDep) -> list[Fault]:
    return list(sandbox.recorder.faults)


@router.post("/_sandbox/faults", status_code=201)
async def add_fault(sandbox: SandboxDep, fault: Fault) -> Fault:
    """Make the next calls to a service fail (500, 429 + Retry-After, slow, malformed)."""
    return sandbox.recorder.add_fault(fault)


@router.delete("/_sandbox/faults")
async def clear_faults(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.recorder.clear_faults()
    return {"ok": True}


@router.get("/_sandbox/config")
async def get_config(sandbox: SandboxDep) -> dict[str, Any]:
    return {
        "public_url": sandbox.config.public_url,
        "slack_interactivity_url": sandbox.config.slack_interactivity_url,
        "slack_command_url": sandbox.config.slack_command_url,
        "slack_signing_secret_set": bool(sandbox.config.slack_signing_secret),
        "slack_rate_limits": sandbox.config.slack_rate_limits.model_dump(),
    }


@router.post("/_sandbox/config")
async def set_config(sandbox: SandboxDep, update: ConfigUpdate) -> dict[str, Any]:
    """Point chat-page clicks at an app (its interactivity URL and signing secret); turn
    Slack's rate limits on or off."""
    if update.slack_rate_limits is not None:
        sandbox.config.slack_rate_limits = update.slack_rate_limits
        sandbox.slack.limiter.reset()
    if update.slack_interactivity_url is not None:
        sandbox.config.slack_interactivity_url = update.slack_interactivity_url
    if update.slack_command_url is not None:
        sandbox.config.slack_command_url = update.slack_command_url
    if update.slack_signing_secret is not None:
        sandbox.config.slack_signing_secret = update.slack_signing_secret
    return await get_config(sandbox)


@router.post("/_sandbox/reset")
async def reset(sandbox: SandboxDep) -> dict[str, bool]:
    """Back to the seeded state: objects, messages, recordings and faults."""
    sandbox.stripe.reset()
    sandbox.slack.reset()
    sandbox.salesforce.reset()
    sandbox.recorder.clear()
    sandbox.recorder.clear_faults()
    sandbox.bump()
    return {"ok": True}


@router.get("/_sandbox/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
