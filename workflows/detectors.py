"""DetectorWorkflow: one run of one detector.

Started by its Temporal Schedule (or by ``run_detectors_once``): query (activity) → compare
(pure rules, here in the workflow) → route each finding to the account team (activity) →
raise it (activity: signal-with-start of the subject's remediation). Returns how many it
checked and raised.
    No signals, updates or queries: a run is short, and its result and current details say
    what it found.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import DetectorActivities
    from canary.models.detectors import (
        AccountTeamInput,
        AccountTeamOutput,
        DetectorQueryInput,
        DetectorQueryOutput,
        DetectorRunInput,
        DetectorRunResult,
        RaiseInput,
        RaiseOutput,
    )
    from canary.rules import evaluate, route, to_detection

from workflows.policies import (
    QUERY_RETRY,
    QUERY_TIMEOUT,
    RAISE_RETRY,
    RAISE_TIMEOUT,
    cause,
)


@workflow.defn(name="DetectorWorkflow")
class DetectorWorkflow:
    @workflow.run
    async def run(self, input: DetectorRunInput) -> DetectorRunResult:
        spec = input.detector
        as_of = input.as_of or workflow.now()
        workflow.set_current_details(f"Querying for {spec.title}…")
        queried: DetectorQueryOutput = await workflow.execute_activity_method(
            DetectorActivities.detector_query,
            DetectorQueryInput(detector=spec, as_of=as_of),
            start_to_close_timeout=QUERY_TIMEOUT,
            retry_policy=QUERY_RETRY,
        )
        result = evaluate(spec, queried.rows, as_of.date())
        findings = result.findings
        crm_ids = sorted({f.account.crm_id for f in findings if f.account.crm_id})
        if crm_ids:
            team: AccountTeamOutput = await workflow.execute_activity_method(
                DetectorActivities.account_team,
                AccountTeamInput(crm_ids=crm_ids),
                start_to_close_timeout=QUERY_TIMEOUT,
                retry_policy=QUERY_RETRY,
            )
            findings = [
                route(f, team.teams.get(f.account.crm_id or ""), spec.route_to) for f in findings
            ]
        outcomes = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    DetectorActivities.raise_detection,
                    RaiseInput(
                        detection=to_detection(spec, finding, as_of),
                        search_attributes=input.search_attributes,
                    ),
                    start_to_close_timeout=RAISE_TIMEOUT,
                    retry_policy=RAISE_RETRY,
                )
                for finding in findings
            ),
            return_exceptions=True,
        )
        # One finding that cannot be raised must not hide the others: it is reported as
        # failed, and the next scheduled run finds it again.
        raised = [o for o in outcomes if isinstance(o, RaiseOutput)]
        failed = [
            f"{finding.subject.kind}:{finding.subject.id}: {cause(o)}"
            for finding, o in zip(findings, outcomes, strict=True)
            if isinstance(o, BaseException)
        ]
        summary = f"{spec.title}: checked {result.checked}, raised {len(raised)}"
        if result.skipped:
            summary += f", skipped {len(result.skipped)}"
        if failed:
            summary += f", failed {len(failed)}"
        workflow.set_current_details(
            "\n".join(
                [f"**{summary}**"]
                + [f"- raised `{r.workflow_id}`" for r in raised]
                + [f"- skipped {s.subject_id}: {s.reason}" for s in result.skipped]
                + [f"- failed {f}" for f in failed]
            )
        )
        return DetectorRunResult(
            detector_id=spec.id,
            kind=spec.kind,
            as_of=as_of,
            checked=result.checked,
            raised=len(raised),
            workflow_ids=[r.workflow_id for r in raised],
            skipped=result.skipped,
            failed=failed,
        )
