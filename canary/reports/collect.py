"""Reading a report's facts from Temporal: one visibility listing, then each run's status
(running) or ResolutionRecord (completed), fetched concurrently with a bound.

Temporal is the only store: the search attributes say what is open and where, the workflow
results carry the resolution records. Nothing is copied into a database of Canary's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from canary import search_attributes as sa
from canary.models import RemediationStatus, ResolutionRecord
from canary.reports.compute import compute_report
from canary.reports.models import RemediationFacts, Report, ReportRequest
from canary.settings import Settings

#: How many status queries / result fetches run at once: enough to hide latency, few enough
#: not to crowd the workers' query handling or the frontend's rate limits.
CONCURRENCY = 16
#: A query needs a worker; without one it would wait for the RPC's default deadline.
QUERY_TIMEOUT = timedelta(seconds=5)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def report_query(request: ReportRequest) -> str:
    """Runs that matter to the window: open now, started in it, or closed since it began.

    ``CloseTime`` is at or after the resolution (later when a remediation cools down), so
    this is a superset of the runs that closed in the window; compute_report narrows it.
    """
    since, until = _timestamp(request.since), _timestamp(request.until)
    # Runs that continued as new are left out: the latest run of the chain carries the
    # whole remediation (its first start, timeline and counts), so it is counted once.
    return (
        sa.REMEDIATIONS
        + " AND StartTime < '"
        + until
        + "' AND (ExecutionStatus = 'Running' OR StartTime >= '"
        + since
        + "' OR CloseTime >= '"
        + since
        + "')"
    )


def _facts_from_visibility(execution: WorkflowExecution) -> RemediationFacts:
    attrs = execution.typed_search_attributes
    status = execution.status
    if status == WorkflowExecutionStatus.RUNNING:
        kind = "running"
    elif status == WorkflowExecutionStatus.COMPLETED:
        kind = "completed"
    else:
        kind = "other"
    return RemediationFacts(
        workflow_id=execution.id,
        run_id=execution.run_id,
        execution=kind,  # type: ignore[arg-type]
        execution_status=status.name if status else "UNKNOWN",
        start_time=execution.start_time,
        close_time=execution.close_time,
        error_type=attrs.get(sa.ERROR_TYPE) or execution.id.split(":", 1)[0] or "unknown",
        severity=attrs.get(sa.SEVERITY) or "medium",
        state=attrs.get(sa.STATE),
        escalation_level=attrs.get(sa.ESCALATION_LEVEL) or 0,
        owner=attrs.get(sa.OWNER),
        account_key=attrs.get(sa.ACCOUNT),
        subject=attrs.get(sa.SUBJECT),
        signature=attrs.get(sa.SIGNATURE),
    )


async def _read(client: Client, facts: RemediationFacts) -> RemediationFacts:
    if facts.execution == "other":
        return facts
    try:
        if facts.execution == "running":
            handle = client.get_workflow_handle(facts.workflow_id, run_id=facts.run_id)
            status = await handle.query(
                "status", result_type=RemediationStatus, rpc_timeout=QUERY_TIMEOUT
            )
            return facts.model_copy(update={"status": status})
        result_handle = client.get_workflow_handle(
            facts.workflow_id, run_id=facts.run_id, result_type=ResolutionRecord
        )
        record = await result_handle.result(follow_runs=False)
        return facts.model_copy(update={"record": record})
    except (RPCError, Exception) as exc:  # noqa: BLE001 - one unreadable run must not sink the report
        # Visibility still knows its type, state, account and age: counted from that alone.
        return facts.model_copy(update={"read_error": f"{type(exc).__name__}: {exc}"[:300]})


async def collect_facts(
    client: Client, request: ReportRequest
) -> tuple[list[RemediationFacts], bool]:
    """All runs for the window (at most ``request.limit``), read concurrently."""
    listed: list[WorkflowExecution] = []
    truncated = False
    async for execution in client.list_workflows(
        report_query(request), limit=request.limit + 1, page_size=min(request.limit + 1, 1000)
    ):
        if len(listed) == request.limit:
            truncated = True
            break
        listed.append(execution)
    return await read_runs(client, listed), truncated


async def read_runs(
    client: Client, executions: Sequence[WorkflowExecution]
) -> list[RemediationFacts]:
    """Each run's facts: what its execution says, with its status (running) or its record
    (completed), read concurrently with a bound."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(execution: WorkflowExecution) -> RemediationFacts:
        async with semaphore:
            return await _read(client, _facts_from_visibility(execution))

    return list(await asyncio.gather(*(one(e) for e in executions)))


async def build_report(client: Client, settings: Settings, request: ReportRequest) -> Report:
    from activities.windows import windows_between  # activities import the reports

    facts, truncated = await collect_facts(client, request)
    report = compute_report(
        request,
        facts,
        namespace=settings.temporal_namespace,
        temporal_ui_url=settings.temporal_ui_url,
        generated_at=datetime.now(UTC),
        truncated=truncated,
    )
    report.windows = await windows_between(client, request.since, request.until)
    return report


def parse_moment(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` (that long before now), ``now``, or an ISO 8601 date or
    time (UTC unless it says otherwise)."""
    value = text.strip()
    if value.lower() == "now":
        return now
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if value[-1:].lower() in units and value[:-1].replace(".", "", 1).isdigit():
        return now - timedelta(seconds=float(value[:-1]) * units[value[-1].lower()])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is neither a duration like 7d / 12h / 30m nor an ISO date or time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report_request(since: str = "7d", until: str | None = None, **knobs: object) -> ReportRequest:
    now = datetime.now(UTC)
    end = parse_moment(until, now) if until else now
    return ReportRequest(since=parse_moment(since, end), until=end, **knobs)  # type: ignore[arg-type]
