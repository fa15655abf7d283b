"""Salesforce's record pages for people (Lightning's ``/lightning/r/…/view`` and
``/lightning/o/…/list``), the links Canary's messages give for CRM records."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from sandbox.deps import SandboxDep
from sandbox.templating import render

router = APIRouter(tags=["salesforce pages"])


@router.get("/lightning/r/{sobject}/{record_id}/view", response_class=HTMLResponse)
async def lightning_record(sandbox: SandboxDep, sobject: str, record_id: str) -> Response:
    record = sandbox.salesforce.get(sobject, record_id)
    if record is None:
        return PlainTextResponse(f"No {sobject} {record_id}", status_code=404)
    rows = [(k, v) for k, v in record.items() if v is not None and not isinstance(v, dict)]
    return render(
        "object.html",
        brand="Salesforce (sandbox)",
        home="/lightning/o/Account/list",
        home_label="Accounts",
        title=f"{sobject}: {record.get('Name') or record_id}",
        subtitle=record_id,
        rows=rows,
        items=[],
        raw=None,
    )


@router.get("/lightning/o/{sobject}/list", response_class=HTMLResponse)
async def lightning_list(sandbox: SandboxDep, sobject: str) -> Response:
    try:
        records = sandbox.salesforce.all(sobject)
    except Exception:
        return PlainTextResponse(f"No object {sobject}", status_code=404)
    items = [
        (
            r.get("Name") or r["Id"],
            f"/lightning/r/{sobject}/{r['Id']}/view",
            r.get("Website") or r.get("StageName") or "",
        )
        for r in records
    ]
    return render(
        "object.html",
        brand="Salesforce (sandbox)",
        home=f"/lightning/o/{sobject}/list",
        home_label=sobject,
        title=f"{sobject} records",
        subtitle=None,
        rows=[],
        items=items,
        raw=None,
    )
