"""POST /api/detections: a GTM error reported by any tool becomes (or joins) a remediation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from canary.blocks import temporal_ui_link
from canary.models import ReportedDetection
from starter.gateway.deps import SettingsDep, TemporalDep, refused_as, require_intake
from starter.intake import submit_detection

router = APIRouter(tags=["api"], dependencies=[Depends(require_intake)])


class Accepted(BaseModel):
    workflow_id: str = Field(description="The remediation this detection started or joined.")
    error_type: str
    temporal_ui: str


@router.post("/api/detections", response_model=Accepted, status_code=202)
async def post_detection(
    detection: ReportedDetection, client: TemporalDep, settings: SettingsDep
) -> Accepted:
    """Report a GTM error from any tool (Zapier, Workato, n8n, a warehouse job).

    The remediation is keyed by error type + subject: reporting the same subject again
    while it is open adds an occurrence instead of a second remediation. Ids of Stripe and
    Salesforce objects (the subject's, the account's, facts such as ``case_id``) must have their
    system's shape: a 422 names the field that does not."""
    async with refused_as(422):
        submitted = await submit_detection(client, detection, settings)
    return Accepted(
        workflow_id=submitted.workflow_id,
        error_type=submitted.error_type,
        temporal_ui=temporal_ui_link(
            settings.temporal_ui_url, settings.temporal_namespace, submitted.workflow_id
        ),
    )
