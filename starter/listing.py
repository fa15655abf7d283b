"""Listing remediations from Temporal's visibility store (the search attributes)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from canary import search_attributes as sa
from canary.blocks.mrkdwn import clip
from canary.models import AccountRef, RemediationSummary, Subject
from canary.rules.report import text_table
from starter.intake import STATUS_QUERY_TIMEOUT
from workflows import RemediationWorkflow


def visibility_query(open_only: bool = False, error_type: str | None = None) -> str:
    """Remediations (open ones: running and not closed, as the report counts them)."""
    clauses = [sa.open_remediations() if open_only else sa.REMEDIATIONS]
    if error_type:
        clauses.append(f"{sa.ERROR_TYPE.name} = '{error_type.replace(chr(39), '')}'")
    return " AND ".join(clauses)


def _from_attributes(execution: WorkflowExecution) -> RemediationSummary:
    """What visibility alone knows, for when a query cannot be answered."""
    attrs = execution.typed_search_attributes
    subject = (attrs.get(sa.SUBJECT) or "unknown:" + execution.id).split(":", 1)
    state = attrs.get(sa.STATE) or (
        "diagnosing" if execution.status == WorkflowExecutionStatus.RUNNING else "failed"
    )
    started = execution.start_time or datetime.now(UTC)
    return RemediationSummary(
        workflow_id=execution.id,
        error_type=attrs.get(sa.ERROR_TYPE) or "unknown",
        state=state,  # type: ignore[arg-type]
        escalation_level=attrs.get(sa.ESCALATION_LEVEL) or 0,
        severity=attrs.get(sa.SEVERITY) or "medium",  # type: ignore[arg-type]
        subject=Subject(kind=subject[0], id=subject[-1]),
        subject_id=subject[-1],
        account=AccountRef(crm_id=attrs.get(sa.ACCOUNT)),
        owner=attrs.get(sa.OWNER),
        started_at=started,
        updated_at=execution.close_time or started,
    )


async def _summary(client: Client, execution: WorkflowExecution) -> RemediationSummary:
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    try:
        status = await handle.query(RemediationWorkflow.status, rpc_timeout=STATUS_QUERY_TIMEOUT)
    except RPCError:  # gone, or no worker answers: what visibility says
        return _from_attributes(execution)
    return RemediationSummary.model_validate(
        status.model_dump(exclude={"timeline", "diagnosis", "actions", "snoozed_until"})
    )


async def list_remediations(
    client: Client, open_only: bool = False, error_type: str | None = None, limit: int = 100
) -> list[RemediationSummary]:
    executions: list[WorkflowExecution] = []
    async for execution in client.list_workflows(
        visibility_query(open_only, error_type), limit=limit
    ):
        executions.append(execution)
    semaphore = asyncio.Semaphore(16)

    async def one(execution: WorkflowExecution) -> RemediationSummary:
        async with semaphore:
            return await _summary(client, execution)

    return list(await asyncio.gather(*(one(e) for e in executions)))


#: Columns cut to these widths so that one remediation stays on one line; the workflow id
#: comes last and whole, to copy into `canary status`.
ACCOUNT_WIDTH = 24
HEADLINE_WIDTH = 56


def listing_table(summaries: list[RemediationSummary]) -> str:
    """`canary list` for people: a header, then one aligned row per remediation."""
    rows = [["STATE", "OUTCOME", "TYPE", "ACCOUNT", "HEADLINE", "STARTED (UTC)", "WORKFLOW ID"]]
    for item in summaries:
        rows.append(
            [
                item.state,
                item.outcome or "-",
                item.error_type,
                clip(item.account.label(), ACCOUNT_WIDTH),
                clip(" ".join(item.headline.split()) or "-", HEADLINE_WIDTH),
                item.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                item.workflow_id,
            ]
        )
    return text_table(rows)
