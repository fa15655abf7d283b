"""GET /report and GET /api/report: the dashboard and its numbers, for viewers with the token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from temporalio.client import Client

from canary.reports import Report, build_report, render_html, report_request
from canary.settings import Settings
from starter.gateway.deps import SettingsDep, TemporalDep, require_viewer

router = APIRouter(tags=["report"], dependencies=[Depends(require_viewer)])

Since = Annotated[str, Query(description="Window start: 7d, 12h, 30m, 2w or ISO.")]
Until = Annotated[str | None, Query(description="Window end (ISO or 1d ago); now.")]
Limit = Annotated[int, Query(ge=1, le=20000)]


async def _report(
    client: Client, settings: Settings, since: str, until: str | None, limit: int
) -> Report:
    try:
        wanted = report_request(since, until, limit=limit)
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return await build_report(client, settings, wanted)


@router.get("/api/report", response_model=Report)
async def get_report_json(
    client: TemporalDep,
    settings: SettingsDep,
    since: Since = "7d",
    until: Until = None,
    limit: Limit = 2000,
) -> Report:
    """The report's numbers, the same as `canary report --json`."""
    return await _report(client, settings, since, until, limit)


@router.get("/report", response_class=HTMLResponse)
async def get_report_page(
    client: TemporalDep,
    settings: SettingsDep,
    since: Since = "7d",
    until: Until = None,
    limit: Limit = 2000,
    refresh: Annotated[
        int, Query(ge=5, le=3600, description="Seconds between self-refreshes.")
    ] = 60,
) -> HTMLResponse:
    """The dashboard: server-rendered HTML with inline SVG charts, no scripts."""
    found = await _report(client, settings, since, until, limit)
    json_url = "/api/report?" + urlencode(
        {k: v for k, v in {"since": since, "until": until, "limit": limit}.items() if v}
    )
    return HTMLResponse(render_html(found, refresh_seconds=refresh, json_url=json_url))
