"""GET /healthz: what a load balancer or `canary up` polls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from starter.gateway.deps import SettingsDep

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(request: Request, settings: SettingsDep) -> dict[str, Any]:
    return {
        "ok": True,
        "temporal": "connected" if request.app.state.temporal else "connecting",
        "task_queue": settings.task_queue,
        "slack_actions": request.app.state.slack is not None,
        "stripe_webhooks": bool(settings.stripe_webhook_secret),
    }
