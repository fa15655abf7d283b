"""A new remediation's diagnosis in one local activity.

Each lookup of a diagnosis (the plan, every enricher, the diagnosis, the owner, the manager,
the groups allowed to act) is its own local activity when the workflow needs it again; for a
new remediation they run here, in one, so the first alert waits on one activation instead of
five. Every enricher is tried once, together; an enricher or a people lookup that fails is
left out, with its error, for the workflow to retry on its own. The plan or the diagnosis
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
)
from canary.models.detection import Detection
from canary.models.remediation import owner_emails

R = TypeVar("R")


async def investigate(
    request: InvestigateInput,
    *,
    plan: Callable[[Detection], Awaitable[DiagnosisPlan]],
    enrich: Callable[[EnrichInput], Awaitable[EnrichOutput]],
    diagnose: Callable[[DiagnoseInput], Awaitable[Diagnosis]],
    resolve_owner: Callable[[ResolveOwnerInput], Awaitable[ResolveOwnerOutput]],
    resolve_groups: Callable[[ResolveGroupsInput], Awaitable[ResolveGroupsOutput]],
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
    owner, boss, members = await asyncio.gather(
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
    found.owner, found.manager, found.members = owner, boss, members
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
