"""GET /api/remediations/{id}: one remediation's status and timeline."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from canary.models import RemediationStatus
from starter.gateway.deps import TemporalDep, require_reader
from starter.intake import get_status

router = APIRouter(tags=["api"], dependencies=[Depends(require_reader)])


@router.get("/api/remediations/{workflow_id:path}", response_model=RemediationStatus)
async def get_remediation(workflow_id: str, client: TemporalDep) -> RemediationStatus:
    status = await get_status(client, workflow_id)
    if status is None:
        raise HTTPException(404, f"no remediation {workflow_id}")
    return status
