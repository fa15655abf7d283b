"""The investigation: what the error is, what the systems of record say about it, and who
is to hear of it.

Everything a first alert needs comes from one local activity (``canary.investigate``: the
plan, each enricher tried once, the diagnosis, the owner and manager, and the alert's links
prepared); whatever failed there is looked up again here, each with its own retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import InvestigationActivities, SlackActivities
    from canary.models import (
        DiagnoseInput,
        Diagnosis,
        EnrichInput,
        EnrichOutput,
        InvestigateInput,
        Investigation,
        ResolveOwnerInput,
        ResolveOwnerOutput,
        StepOutput,
        TimelineKind,
    )
    from canary.models.remediation import owner_emails

from workflows.policies import (
    DIAGNOSIS_RETRY,
    DIAGNOSIS_TIMEOUT,
    SLACK_RETRY,
    SLACK_TIMEOUT,
    cause,
)
from workflows.remediation.context import Remediation

A = TypeVar("A")
R = TypeVar("R")
People = ResolveOwnerOutput | str | None  # found, why Slack could not say, or nobody to ask


class Investigator:
    def __init__(self, remediation: Remediation) -> None:
        self.r = remediation
        #: Link-preparing steps the investigation already ran: step id → result.
        self.prepared: dict[str, StepOutput] = {}

    async def diagnose(self) -> Diagnosis:
        r = self.r
        sent = dict(r.state.facts)
        quick = await self._investigate(sent)
        if quick.windows is not None:
            r.investigated_windows = (workflow.now(), quick.windows)
        plan = quick.plan
        # A permanent refusal stays failed; anything else is looked up again, after the
        # backoff the retry policy would wait (or as long as the service asked).
        final = {
            i: quick.enrich_errors[i] or "failed"
            for i, e in enumerate(quick.enriched)
            if e is None and quick.enrich_final[i]
        }
        missing = [i for i, e in enumerate(quick.enriched) if e is None and i not in final]
        if missing:
            await workflow.sleep(
                max(quick.retry_after or timedelta(0), DIAGNOSIS_RETRY.initial_interval)
            )
        retried = await asyncio.gather(*(self._enrich(plan.enrich[i]) for i in missing))
        again: dict[int, EnrichOutput | str] = {**final, **dict(zip(missing, retried, strict=True))}
        found = [again[i] if e is None else e for i, e in enumerate(quick.enriched)]
        facts: dict[str, Any] = {}
        for enricher, enriched in zip(plan.enrich, found, strict=True):
            if isinstance(enriched, str):
                # Diagnosis goes on with what the detection said; the gap is on the record.
                r.record("enrich_failed", f"Could not look up {enricher}: {enriched}")
                continue
            facts.update(enriched.facts)
            if enriched.account:
                r.state.account = r.state.account.filled_from(enriched.account)
        # The investigation's diagnosis holds if it saw these very facts (a report that
        # arrived meanwhile may have added some) and every enricher answered it.
        investigated = quick.diagnosis if r.state.facts == sent else None
        r.state.facts.update(facts)
        if investigated is not None:
            diagnosis = investigated
            # Its links were prepared from these same facts: used as the steps' first runs.
            self.prepared = dict(quick.prepared)
        else:
            detection = r.detection.model_copy(update={"account": r.state.account})
            diagnosis = await self._local(
                InvestigationActivities.diagnose,
                DiagnoseInput(detection=detection, plan=plan, facts=r.state.facts),
                DIAGNOSIS_TIMEOUT,
            )
        matched = next((s for s in reversed(diagnosis.steps) if s.matched), None)
        r.record(
            "diagnosed",
            f"Diagnosed as {diagnosis.error_type}"
            + (f" ({matched.title})" if matched else "")
            + f"; catalog {diagnosis.catalog_version}",
            # The checks it made are the pinned diagnosis's steps; the entry names the one that
            # matched rather than keep them all a second time in every cached remediation.
            data={"branch": diagnosis.branch} | ({"matched": matched.id} if matched else {}),
        )
        r.state.facts.update(diagnosis.facts)
        await self._route(quick if investigated is not None else None)
        return diagnosis

    async def _investigate(self, facts: dict[str, Any]) -> Investigation:
        r = self.r
        return await self._local(
            InvestigationActivities.investigate,
            InvestigateInput(
                detection=r.detection,
                facts=facts,
                account=r.state.account,
                workflow_id=r.workflow_id,
                prepare_key=r.key_prefix,
                # Well inside the investigation's own timeout: a slower link is left to the
                # workflow, which gives it the step's whole timeout.
                step_timeout_seconds=min(
                    r.config.step_timeout_seconds, DIAGNOSIS_TIMEOUT.total_seconds() / 3
                ),
            ),
            DIAGNOSIS_TIMEOUT,
        )

    async def _route(self, quick: Investigation | None) -> None:
        """Owner and manager: the investigation's answers where it asked for the same people
        and got one, the rest looked up together. (Who else may act, admins and the SOP's
        groups, is read by the gateway when a click arrives.)"""
        r = self.r
        emails = owner_emails(r.state.account, r.state.facts)
        manager_email = r.state.facts.get("manager_email")
        managers = [str(manager_email)] if manager_email else []

        async def known(value: R) -> R:
            return value

        owner, manager = await asyncio.gather(
            known(quick.owner)
            if quick and quick.owner and quick.owner_emails == emails
            else self._people(emails),
            known(quick.manager)
            if quick and quick.manager and [quick.manager_email] == managers
            else self._people(managers),
        )
        r.state.owner = self._note_people(emails, "owner", owner)
        if managers:
            r.state.manager = self._note_people(managers, "manager", manager)

    async def _enrich(self, enricher: str) -> EnrichOutput | str:
        """One enricher's facts, or why it could not look them up."""
        try:
            return await self._local(
                InvestigationActivities.enrich,
                EnrichInput(enricher=enricher, detection=self.r.detection),
                DIAGNOSIS_TIMEOUT,
            )
        except FailureError as err:
            return cause(err)

    async def _people(self, emails: list[str]) -> People:
        """Slack users for these e-mails (the first found), or why Slack could not say."""
        if not emails:
            return None
        try:
            return await self._local(
                SlackActivities.resolve_owner,
                ResolveOwnerInput(emails=emails),
                SLACK_TIMEOUT,
                slack=True,
            )
        except FailureError as err:
            return cause(err)

    def _note_people(self, emails: list[str], role: str, found: People) -> ResolveOwnerOutput:
        r = self.r
        owner = role == "owner"
        if found is None:
            return ResolveOwnerOutput()
        if isinstance(found, str):
            failed: TimelineKind = "owner_lookup_failed" if owner else "manager_lookup_failed"
            r.record(failed, f"Could not find the {role} in Slack: {found}")
            return ResolveOwnerOutput()
        kind: TimelineKind = "owner" if owner else "manager"
        if found.slack_user:
            r.record(
                kind,
                f"{role.capitalize()} is {found.name or found.email} (<@{found.slack_user}>)",
            )
        else:
            fallback = (
                f"alerting {r.config.alert_channel}"
                if owner
                else f"escalating to {r.config.escalation_channel}"
            )
            r.record(kind, f"No Slack user for {', '.join(emails)}; {fallback}")
        return found

    async def _local(
        self,
        activity: Callable[[Any, A], Awaitable[R]],
        arg: A,
        timeout: timedelta,
        slack: bool = False,
    ) -> R:
        """A read-only lookup, as a local activity: inside the workflow task, no round trip
        to the server per lookup."""
        return await workflow.execute_local_activity_method(
            activity,
            arg,
            start_to_close_timeout=timeout,
            retry_policy=SLACK_RETRY if slack else DIAGNOSIS_RETRY,
        )
