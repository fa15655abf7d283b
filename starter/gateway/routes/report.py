"""GET /report and GET /api/report: the dashboard and its numbers, for viewers with the token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError
from temporalio.client import Client

from activities.investigate import diagnosis_env
from canary.catalog import DEFAULT_CATALOG, cached_catalog
from canary.reports import Report, build_report, render_html, report_request
from canary.reports.collect import parse_moment
from canary.settings import Settings
from starter.gateway.deps import SettingsDep, TemporalDep, require_viewer
from starter.whatif import WhatIf, histories_of_window, render_text, what_if

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
    # A deployment with its own catalog: the same comparison as `canary whatif`, of the
    # default catalog against it on this window's remediations.
    whatif_url = "/whatif?" + urlencode({"since": since}) if settings.catalog_path else None
    return HTMLResponse(
        render_html(found, refresh_seconds=refresh, json_url=json_url, whatif_url=whatif_url)
    )


async def _whatif(
    client: Client, settings: Settings, since: str, error_type: str | None, limit: int
) -> WhatIf:
    """The remediations since ``since`` (recorded under CANARY_CATALOG) diagnosed again with
    the default catalog, from their histories: no call to Stripe, Salesforce or Slack."""
    try:
        start = parse_moment(since, datetime.now(UTC))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    histories = await histories_of_window(client, start, limit)
    return await what_if(
        histories,
        cached_catalog(None),
        str(DEFAULT_CATALOG),
        client.data_converter,
        diagnosis_env(settings),
        error_type,
        start,
    )


WhatIfSince = Annotated[str, Query(description="Window start: 30d, 12h, 2w or ISO.")]
WhatIfType = Annotated[
    str | None, Query(alias="type", description="Only remediations that were, or would be, T.")
]


@router.get("/api/whatif", response_model=WhatIf)
async def get_whatif_json(
    client: TemporalDep,
    settings: SettingsDep,
    since: WhatIfSince = "30d",
    error_type: WhatIfType = None,
    limit: Limit = 2000,
) -> WhatIf:
    """What the default catalog would have done with the window's remediations, against
    what CANARY_CATALOG did: `canary whatif --catalog <default> --json`."""
    return await _whatif(client, settings, since, error_type, limit)


@router.get("/whatif", response_class=PlainTextResponse)
async def get_whatif_text(
    client: TemporalDep,
    settings: SettingsDep,
    since: WhatIfSince = "30d",
    error_type: WhatIfType = None,
    limit: Limit = 2000,
) -> PlainTextResponse:
    """The same comparison as text, as `canary whatif` prints it."""
    return PlainTextResponse(render_text(await _whatif(client, settings, since, error_type, limit)))
