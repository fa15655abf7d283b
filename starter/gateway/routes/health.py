"""GET /healthz (ready: Temporal answers) and GET /livez (the process is up): what a load
balancer, an orchestrator's probes and `canary up` poll."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from starter.gateway.deps import SettingsDep

router = APIRouter(tags=["ops"])

#: A readiness probe answers quickly either way.
TEMPORAL_CHECK_TIMEOUT = timedelta(seconds=2)


@router.get("/livez")
async def livez() -> dict[str, bool]:
    """Cheap: the gateway's process serves requests. Restart it when this fails."""
    return {"ok": True}


@router.get("/healthz", responses={503: {"description": "Temporal does not answer"}})
async def healthz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Ready to take webhooks and clicks: Temporal answers its health check now."""
    client = request.app.state.temporal
    if client is None:
        temporal = "connecting"
    else:
        try:
            answered = await client.service_client.check_health(timeout=TEMPORAL_CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure to answer means not ready
            answered = False
        temporal = "connected" if answered else "unreachable"
    body: dict[str, Any] = {
        "ok": temporal == "connected",
        "temporal": temporal,
        "task_queue": settings.task_queue,
        "slack_actions": request.app.state.slack is not None,
        "stripe_webhooks": bool(settings.stripe_webhook_secret),
    }
    return JSONResponse(body, status_code=200 if body["ok"] else 503)
