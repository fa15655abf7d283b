"""``canary whatif``: what another SOP catalog would have done with past remediations.

The remediations come from Temporal (visibility lists the runs of the window, each history is
read) or from exported history files. A history holds everything the diagnosis used: the
report in the workflow's start input, and the local activities' results in their markers
(``canary.investigate``: the plan, each lookup's facts and the diagnosis; ``canary.enrich``:
a lookup tried again; ``canary.diagnose``: the diagnosis made again after that). The other
catalog's diagnosis runs on those (canary.catalog.whatif), so Stripe, Salesforce and Slack
are never called, nor the workers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from canary import search_attributes as sa
from canary.catalog.whatif import Compared, Recorded, Summary, compare, summarise
from canary.models import Diagnosis, EnrichOutput, Investigation, RemediationInput
from canary.models.remediation import without_reported_owner
from canary.models.sop import Catalog

#: Histories read at once from Temporal.
CONCURRENCY = 16
T = TypeVar("T")


class WhatIf(BaseModel):
    catalog: str = Field(description="The other catalog's version.")
    catalog_path: str
    since: datetime | None = None
    remediations: list[Compared] = Field(default_factory=list)
    unreadable: list[str] = Field(
        default_factory=list, description="Runs whose history holds no diagnosis (yet), and why."
    )
    summary: Summary = Field(default_factory=Summary)


async def _decode(converter: DataConverter, payloads: Payloads, kind: type[T]) -> T:
    (value,) = await converter.decode(list(payloads.payloads), [kind])
    return value  # type: ignore[no-any-return]


def _marker_kind(payloads: Payloads | None) -> str | None:
    """The activity a local activity marker records (its ``data``, JSON written by the SDK)."""
    if payloads is None or not payloads.payloads:
        return None
    try:
        found = json.loads(payloads.payloads[0].data)
    except ValueError:
        return None
    kind = found.get("activity_type") if isinstance(found, dict) else None
    return str(kind) if kind else None


async def recorded_from_history(
    history: WorkflowHistory, converter: DataConverter
) -> Recorded | str:
    """The remediation a history recorded, or why it holds none to compare."""
    if not history.events:
        return "empty history"
    started = history.events[0].workflow_execution_started_event_attributes
    if started.workflow_type.name != "RemediationWorkflow":
        return f"a {started.workflow_type.name or 'workflow'}, not a remediation"
    given = await _decode(converter, started.input, RemediationInput)
    account, reported = without_reported_owner(given.detection, given.from_canary_detector)
    investigation: Investigation | None = None
    diagnosis: Diagnosis | None = None
    retried: list[EnrichOutput] = []
    for event in history.events:
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        details = event.marker_recorded_event_attributes.details
        result = details.get("result")
        if result is None or not result.payloads:
            continue  # a local activity that failed: nothing it found
        kind = _marker_kind(details.get("data"))
        if kind == "canary.investigate":
            investigation = await _decode(converter, result, Investigation)
            diagnosis = investigation.diagnosis or diagnosis
        elif kind == "canary.diagnose":
            diagnosis = await _decode(converter, result, Diagnosis)
        elif kind == "canary.enrich":
            retried.append(await _decode(converter, result, EnrichOutput))
    looked_up: list[str] | None = None
    if investigation is not None:
        # As the workflow saw it: the report's account, its gaps filled by the lookups.
        for enriched in [*investigation.enriched, *retried]:
            if enriched is not None and enriched.account:
                account = account.filled_from(enriched.account)
        looked_up = list(investigation.plan.enrich)
    elif given.state is not None and given.state.diagnosis is not None:
        # A run that continued an earlier one: the state carries what that one found.
        diagnosis, account = given.state.diagnosis, given.state.account
    if diagnosis is None:
        return "no diagnosis recorded yet"
    detection = given.detection.model_copy(update={"account": account, "facts": reported})
    return Recorded(
        workflow_id=history.workflow_id,
        run_id=history.run_id,
        detection=detection,
        facts=dict(diagnosis.facts),
        diagnosis=diagnosis,
        looked_up=looked_up,
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def whatif_query(since: datetime) -> str:
    """The remediations started in the window (each chain's latest run)."""
    return f"{sa.REMEDIATIONS} AND StartTime >= '{_timestamp(since)}'"


async def histories_of_window(
    client: Client, since: datetime, limit: int
) -> list[tuple[str, WorkflowHistory | str]]:
    """Each remediation's history, or why it could not be read. A run that continued an
    earlier one is read from its chain's first run, where the investigation is."""
    listed = [
        (e.id, e.run_id) async for e in client.list_workflows(whatif_query(since), limit=limit)
    ]
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(workflow_id: str, run_id: str | None) -> tuple[str, WorkflowHistory | str]:
        async with semaphore:
            try:
                history = await client.get_workflow_handle(
                    workflow_id, run_id=run_id
                ).fetch_history()
                started = history.events[0].workflow_execution_started_event_attributes
                first = started.first_execution_run_id
                if first and first != history.run_id:
                    history = await client.get_workflow_handle(
                        workflow_id, run_id=first
                    ).fetch_history()
                return workflow_id, history
            except Exception as exc:  # noqa: BLE001 - one unreadable run must not sink the rest
                return workflow_id, f"{type(exc).__name__}: {exc}"[:300]

    return list(await asyncio.gather(*(one(w, r) for w, r in listed)))


def history_files(targets: Sequence[Path]) -> list[tuple[str, WorkflowHistory | str]]:
    """Exported histories (``canary export ID -o ID.json``): files, or every ``*.json`` of a
    folder; the file's stem names the workflow."""
    found: list[tuple[str, WorkflowHistory | str]] = []
    for target in targets:
        for file in sorted(target.glob("*.json")) if target.is_dir() else [target]:
            try:
                history = WorkflowHistory.from_json(file.stem, json.loads(file.read_text()))
                found.append((file.stem, history))
            except (ValueError, OSError) as exc:
                found.append((str(file), f"not a history: {exc}"))
    return found


async def what_if(
    histories: Sequence[tuple[str, WorkflowHistory | str]],
    catalog: Catalog,
    catalog_path: str,
    converter: DataConverter,
    env: dict[str, Any],
    error_type: str | None = None,
    since: datetime | None = None,
) -> WhatIf:
    """Each remediation's recorded handling against the other catalog's, and the summary.
    ``error_type`` keeps the remediations that were, or would be, of that type."""
    found = WhatIf(catalog=catalog.version, catalog_path=catalog_path, since=since)
    for name, history in histories:
        recorded = (
            await recorded_from_history(history, converter)
            if isinstance(history, WorkflowHistory)
            else history
        )
        if isinstance(recorded, str):
            found.unreadable.append(f"{name}: {recorded}")
            continue
        compared = compare(recorded, catalog, env)
        if error_type and error_type not in (compared.before.error_type, compared.after.error_type):
            continue
        found.remediations.append(compared)
    found.remediations.sort(key=lambda c: c.workflow_id)
    found.summary = summarise(found.remediations)
    return found


def _listed(values: list[str]) -> str:
    return ", ".join(values) if values else "(none)"


def render_text(result: WhatIf) -> str:
    """For people: each remediation that would change, what changes, then the summary."""
    window = f" started since {result.since:%Y-%m-%d %H:%M} UTC" if result.since else ""
    lines = [
        f"What-if: catalog {result.catalog} ({result.catalog_path}) on "
        f"{len(result.remediations)} remediations{window}",
        "",
    ]
    for item in result.remediations:
        if not item.changed and not item.missing_lookups:
            continue
        lines.append(f"{item.workflow_id} — {item.subject}, {item.account}")
        for name in item.changed:
            before, after = getattr(item.before, name), getattr(item.after, name)
            if isinstance(before, list):
                before, after = _listed(before), _listed(after)
            lines.append(f"  {name.replace('_', ' ')}: {before or '-'} → {after or '-'}")
        if item.changed and item.after.evidence:
            for evidence in item.after.evidence.splitlines():
                lines.append(f"  ({evidence})")
        if item.missing_lookups:
            lines.append(
                "  not looked up then: "
                + ", ".join(item.missing_lookups)
                + " (what the catalog checks with them counts as could not run)"
            )
        lines.append("")
    for problem in result.unreadable:
        lines.append(f"not compared: {problem}")
    if result.unreadable:
        lines.append("")
    summary = result.summary
    lines.append(
        f"{summary.remediations} remediations, {summary.changed} would change, "
        f"{summary.remediations - summary.changed} the same."
    )
    rows = [
        ("fixed automatically", "automatic"),
        ("paged at once", "paged"),
        ("sent to a digest", "digest"),
        ("unknown (general error)", "unknown"),
    ]
    lines.append(f"  {'':<24}{'recorded':>9}{'with this catalog':>19}")
    for label, key in rows:
        before, after = getattr(summary.before, key), getattr(summary.after, key)
        lines.append(f"  {label:<24}{before:>9}{after:>19}")
    if summary.became_unknown:
        lines.append("")
        lines.append(
            f"{len(summary.became_unknown)} report(s) a known SOP handled would become unknown:"
        )
        lines.extend(f"  {workflow_id}" for workflow_id in summary.became_unknown)
    return "\n".join(lines)
