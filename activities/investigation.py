"""A new remediation's diagnosis in one local activity.

Each lookup of a diagnosis (the plan, every enricher, the diagnosis, the owner, the manager,
the groups allowed to act) is its own local activity when the workflow needs it again; for a
new remediation they run here, in one, so the first alert waits on one activation instead of
five. Every enricher is tried once, together; an enricher or a people lookup that fails is
left out, with its error, for the workflow to retry on its own. Asked to (``prepare_key``),
it also runs the diagnosis's leading link-preparing steps while the people are looked up; a
step that fails is left out and the workflow runs it. The plan or the diagnosis
failing fails this activity, as their own activities would.

The same composition serves the real activities and the tests' fakes: the callables passed in
are their activity methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from canary.models import (
    DiagnoseInput,
    Diagnosis,
    DiagnosisPlan,
    EnrichInput,
    EnrichOutput,
    InvestigateInput,
    Investigation,
    ResolveGroupsInput,
    ResolveGroupsOutput,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    StepInput,
    StepOutput,
)
from canary.models.detection import Detection
from canary.models.remediation import owner_emails, step_attempt_key
from canary.models.sop import Step

R = TypeVar("R")


async def investigate(
    request: InvestigateInput,
    *,
    plan: Callable[[Detection], Awaitable[DiagnosisPlan]],
    enrich: Callable[[EnrichInput], Awaitable[EnrichOutput]],
    diagnose: Callable[[DiagnoseInput], Awaitable[Diagnosis]],
    resolve_owner: Callable[[ResolveOwnerInput], Awaitable[ResolveOwnerOutput]],
    resolve_groups: Callable[[ResolveGroupsInput], Awaitable[ResolveGroupsOutput]],
    prepare: Callable[[StepInput], Awaitable[StepOutput]] | None = None,
) -> Investigation:
    detection = request.detection
    planned = await plan(detection)
    tried = await asyncio.gather(
        *(enrich(EnrichInput(enricher=e, detection=detection)) for e in planned.enrich),
        return_exceptions=True,
    )
    for outcome in tried:
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
    found = Investigation(
        plan=planned,
        enriched=[None if isinstance(t, BaseException) else t for t in tried],
        enrich_errors=[_failure_text(t) if isinstance(t, BaseException) else None for t in tried],
        enrich_final=[isinstance(t, ApplicationError) and t.non_retryable for t in tried],
    )
    if any(e is None for e in found.enriched):
        waits = [
            t.next_retry_delay
            for t in tried
            if isinstance(t, ApplicationError) and t.next_retry_delay is not None
        ]
        found.retry_after = max(waits, default=None)
        return found
    # As the workflow applies them: the source's account wins, lookups fill the gaps.
    account = detection.account
    facts = dict(request.facts)
    for enriched in found.enriched:
        assert enriched is not None
        facts.update(enriched.facts)
        if enriched.account:
            account = account.filled_from(enriched.account)
    diagnosis = await diagnose(
        DiagnoseInput(
            detection=detection.model_copy(update={"account": account}), plan=planned, facts=facts
        )
    )
    facts.update(diagnosis.facts)
    found.diagnosis = diagnosis
    found.owner_emails = owner_emails(account, facts)
    manager = facts.get("manager_email")
    found.manager_email = str(manager) if manager else None
    found.groups = diagnosis.allowed_groups()
    # The links the alert will carry, asked for as the workflow would (same input, same
    # idempotency key), while the people are looked up.
    steps: list[Step] = []
    preparing: list[Awaitable[StepOutput | None]] = []
    if prepare is not None and request.prepare_key is not None and not diagnosis.nothing_to_fix:
        subject = detection.model_copy(update={"account": account})
        steps = diagnosis.leading_preparations()
        # A step slower than its own timeout is left to the workflow, which runs it again
        # under the same key (the slow call becomes a replay) instead of holding the alert.
        preparing = [
            _once(
                asyncio.wait_for(
                    prepare(
                        StepInput(
                            workflow_id=request.workflow_id or "",
                            step=step,
                            detection=subject,
                            attempt_key=step_attempt_key(request.prepare_key, step.id, 1),
                            facts=facts,
                        )
                    ),
                    request.step_timeout_seconds,
                )
            )
            for step in steps
        ]
    people = asyncio.gather(
        _once(resolve_owner(ResolveOwnerInput(emails=found.owner_emails)))
        if found.owner_emails
        else _nothing(),
        _once(resolve_owner(ResolveOwnerInput(emails=[found.manager_email])))
        if found.manager_email
        else _nothing(),
        _once(resolve_groups(ResolveGroupsInput(groups=found.groups)))
        if found.groups
        else _nothing(),
    )
    (owner, boss, members), prepared = await asyncio.gather(people, asyncio.gather(*preparing))
    found.owner, found.manager, found.members = owner, boss, members
    found.prepared = {
        step.id: result
        for step, result in zip(steps, prepared, strict=True)
        if isinstance(result, StepOutput)
    }
    return found


async def _once(call: Awaitable[R]) -> R | None:
    try:
        return await call
    except Exception:  # noqa: BLE001 - the workflow looks it up again, with retries
        return None


async def _nothing() -> None:
    return None


def _failure_text(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        return error.message
    return str(error) or type(error).__name__
