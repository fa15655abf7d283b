"""Regenerate the recorded histories in tests/histories/ (`make histories`).

Each scenario drives RemediationWorkflow down one path on the time-skipping server with the
same-name fake activities (tests/fakes.py: offline and deterministic), checks that it took
the path its name says, then saves Temporal's JSON history of every run (a remediation that
continued as new leaves ``NAME.json`` for its first run and ``NAME-run2.json``… for the
next). `tests/workflow/test_replay.py` replays them all against the current workflow code.

Canary has not been released yet (CHANGELOG.md has no version entry), so a change to the
workflows re-records these histories with this script and needs no `workflow.patched()`.
From the first release on, the histories of the last release are kept and replayed, and a
change to the commands a running workflow issues is guarded with `workflow.patched()` (see
the README's section for contributors).

Every SOP type in the catalog gets at least one history: the scenarios below, and for a type
added later without one, a generic path (an admin presses its first closing button).
``python -m tests.record_histories NAME…`` re-records only the named scenarios.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.catalog import load_catalog
from canary.converter import canary_data_converter
from canary.models import (
    ActionRequest,
    Detection,
    ExternalEvent,
    Outcome,
    RemediationConfig,
    RemediationInput,
    ResolutionRecord,
)
from tests.fakes import FakeServices
from workflows import RemediationWorkflow

HERE = Path(__file__).parent / "histories"
Drive = Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]]
ADMIN = "U0ADMIN"
#: The bound the continue-as-new scenarios record with (the default is thousands of events).
SMALL_HISTORY = 80


@dataclass
class Scenario:
    detection: Detection
    drive: Drive
    outcome: Outcome
    pays: list[bool] = field(default_factory=list)
    resolving: set[str] = field(default_factory=set)
    escalated: bool = False
    runs: int = 1  # at least this many runs (continue-as-new)
    continue_as_new_after: int | None = None
    # What the systems of record answer (enricher → facts): a report cannot say it itself.
    lookups: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- detections ---------------------------------------------------------------------------


def _payment(decline: str, invoice: str) -> Detection:
    return Detection(
        id=f"evt_{invoice}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={
            "name": "Globex",
            "stripe_customer_id": "cus_rec",
        },
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": decline},
    )


def _stage(opportunity: str, **facts: Any) -> Detection:
    return Detection(
        id=f"evt_{opportunity}",
        source="stripe",
        type="stage_mismatch",
        subject={"kind": "opportunity", "id": opportunity},
        account={"name": "Wayne", "crm_id": "001WAYNE"},
        message="Invoice paid; the opportunity is not Closed Won",
        facts={
            "signal": "payment_succeeded",
            "opportunity_name": "Wayne pilot",
            "opportunity_stage": "Negotiation",
            "evidence_text": "Stripe collected $12,000.00",
            **facts,
        },
    )


def _app_account(app_id: str, **facts: Any) -> Detection:
    return Detection(
        id=f"evt_{app_id}",
        source="product",
        type="account_unlinked",
        subject={"kind": "app_account", "id": app_id},
        account={"name": "Stark", "domain": "stark.example", "app_account_id": app_id},
        message="Product account without a CRM account",
        facts=facts,
    )


def _finding(error_type: str, kind: str, subject: str, **facts: Any) -> Detection:
    return Detection(
        id=f"{error_type}:{subject}:day1",
        type=error_type,
        source="detector:recorded",
        subject={"kind": kind, "id": subject},
        account={"name": "Initech", "crm_id": "001INIT", "owner_email": "carol@x.example"},
        message=f"{error_type} on {subject}",
        facts=facts,
    )


def _unknown(run: str, **facts: Any) -> Detection:
    return Detection(
        id=run,
        source="zapier",
        subject={"kind": "zap_run", "id": run},
        message="Zap failed: HubSpot returned 502",
        facts=facts,
    )


# -- drives -------------------------------------------------------------------------------


def _press(action: str, user: str, after: timedelta, **extra: Any) -> Drive:
    # As the gateway sends a click: whether the clicker is an admin and which groups they
    # are in, read when the click arrives.
    groups = [group for group, members in FakeServices().groups.items() if user in members]

    async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
        await env.sleep(after)
        await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action=action, user=user, admin=user == ADMIN, member_of=groups, **extra),
        )

    return drive


def _then(*drives: Drive) -> Drive:
    async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
        for step in drives:
            await step(env, handle)

    return drive


def _event(kind: str, source: str, after: timedelta) -> Drive:
    async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
        await env.sleep(after)
        await handle.signal(
            RemediationWorkflow.external_event,
            ExternalEvent(kind=kind, source=source, event_id=f"evt_{kind}_{handle.id}"),
        )

    return drive


def _repeats(count: int, after: timedelta = timedelta(minutes=1), first_n: int = 1) -> Drive:
    """The same subject reported again ``count`` times (report ids ``#first_n``…)."""

    async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
        await env.sleep(after)
        first = (await handle.query(RemediationWorkflow.status)).timeline[0].data["detection"]
        for n in range(first_n, first_n + count):
            repeat = Detection.model_validate({**first, "id": f"{first['id']}#{n}"})
            await handle.signal(RemediationWorkflow.occurrence, repeat)

    return drive


def _until_continued(runs: int = 2) -> Drive:
    async def drive(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
        for _ in range(200):
            if len(await _chain(env, handle)) >= runs:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id} did not continue as new")

    return drive


async def _nothing(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    return None


MINUTES_10 = timedelta(minutes=10)

SCENARIOS: dict[str, Scenario] = {
    # payment_failed: every outcome, the ladder, and a long-lived one that continued as new.
    "payment_failed-auto_resolved": Scenario(
        _payment("insufficient_funds", "in_auto"), _nothing, "auto_resolved", pays=[True]
    ),
    "payment_failed-approved": Scenario(
        _payment("expired_card", "in_approved"),
        _press("retry", "U0ALICE", MINUTES_10),
        "resolved_by_human",
        pays=[True],
    ),
    "payment_failed-escalated-dismissed": Scenario(
        _payment("insufficient_funds", "in_dismiss"),
        _then(
            _press("snooze", "U0ALICE", timedelta(hours=5)),  # past the first escalation step
            _press("dismiss", "U0DAN", timedelta(hours=2), reason="Duplicate of another alert"),
        ),
        "dismissed",
        escalated=True,
    ),
    "payment_failed-resolved_externally": Scenario(
        _payment("authentication_required", "in_paid"),
        _event("invoice.paid", "stripe", timedelta(minutes=30)),
        "resolved_externally",
    ),
    "payment_failed-repeated-resolved_externally": Scenario(
        _payment("generic_decline", "in_repeated"),
        _then(_repeats(6), _event("invoice.payment_succeeded", "stripe", timedelta(hours=2))),
        "resolved_externally",
    ),
    "payment_failed-expired": Scenario(
        _payment("fraudulent", "in_expired"), _nothing, "expired", escalated=True
    ),
    "payment_failed-continued_as_new-approved": Scenario(
        _payment("expired_card", "in_long"),
        _then(
            _repeats(30),
            _until_continued(),
            _repeats(3, first_n=31),
            _press("retry", "U0ALICE", MINUTES_10),
        ),
        "resolved_by_human",
        pays=[True],
        runs=2,
        continue_as_new_after=SMALL_HISTORY,
    ),
    # stage_mismatch
    "stage_mismatch-auto_resolved": Scenario(
        _stage("006WON"),
        _nothing,
        "auto_resolved",
        lookups={"salesforce.opportunity": {"opportunity_is_won": True}},
    ),
    "stage_mismatch-approved": Scenario(
        _stage("006APPROVE"),
        _press("approve", "U0ALICE", timedelta(hours=2)),
        "resolved_by_human",
    ),
    "stage_mismatch-escalated-resolved_externally": Scenario(
        _stage("006EXTERNAL"),
        _event("opportunity.closed_won", "salesforce", timedelta(days=1, hours=1)),
        "resolved_externally",
        escalated=True,
    ),
    # account_unlinked
    "account_unlinked-approved": Scenario(
        _app_account("app_one"),
        _press("approve", "U0DAN", timedelta(hours=1)),
        "resolved_by_human",
        lookups={
            "salesforce.account_candidates": {
                "candidate_count": 1,
                "candidate_name": "Stark Industries",
                "candidate_id": "001S",
            }
        },
    ),
    "account_unlinked-escalated-created": Scenario(
        _app_account("app_none"),
        _press("create_account", "U0DAN", timedelta(days=1, hours=2)),
        "resolved_by_human",
        escalated=True,
        lookups={"salesforce.account_candidates": {"candidate_count": 0}},
    ),
    # detector findings: digest, e-mail, manager escalation, cooldown
    "onboarding_overdue-digest-escalated-approved": Scenario(
        _finding(
            "onboarding_overdue",
            "account",
            "001ONB",
            days_overdue=40,
            days_since_close=70,
            milestones_missing_text="kickoff",
            csm_id="005CSM",
        ),
        _then(
            _press("snooze", "U0ALICE", timedelta(hours=1)),
            _press("acknowledge", "U0ALICE", timedelta(days=6, hours=2)),
        ),
        "resolved_by_human",
        escalated=True,
    ),
    "low_adoption-digest-escalated-expired": Scenario(
        _finding("low_adoption", "account", "001LOW", value_display="12%", csm_id="005CSM"),
        _nothing,
        "expired",
        escalated=True,
    ),
    "renewal_touchpoint_missed-approved": Scenario(
        _finding(
            "renewal_touchpoint_missed",
            "account",
            "001REN",
            days_to_renewal=20,
            renewal_date="2027-01-31",
            csm_id="005CSM",
        ),
        _press("schedule", "U0ALICE", timedelta(hours=3)),
        "resolved_by_human",
    ),
    "account_shift-escalated-dismissed": Scenario(
        _finding(
            "account_shift",
            "account_metric",
            "001SHIFT:spend",
            direction="down",
            change_display="-42%",
            manager_email="mallory@x.example",
        ),
        _press("dismiss", "U0ALICE", timedelta(days=2, hours=1), reason="Not a real problem"),
        "dismissed",
        escalated=True,
    ),
    "irate_customer-approved-cooldown": Scenario(
        _finding("irate_customer", "case", "500IRATE", case_number="00001234", score=-0.9),
        _then(
            _press("escalate", "U0ALICE", timedelta(minutes=30)),
            _press("acknowledge", "U0ALICE", timedelta(minutes=30)),
            _repeats(2, after=timedelta(days=1)),
        ),
        "resolved_by_human",
    ),
    "irate_customer-cooldown-continued_as_new": Scenario(
        _finding("irate_customer", "case", "500STORM", case_number="00005678", score=-0.95),
        _then(
            _press("acknowledge", "U0ALICE", timedelta(minutes=20)),
            _repeats(30, after=timedelta(hours=1)),
            _until_continued(),
        ),
        "resolved_by_human",
        runs=2,
        continue_as_new_after=SMALL_HISTORY,
    ),
    "metric_threshold-auto_resolved": Scenario(
        _finding("metric_threshold", "kpi", "payment_failure_rate", kpi_title="Failure rate"),
        _repeats(1, after=timedelta(hours=2)),
        "auto_resolved",
        resolving={"report.send"},
    ),
    # pipeline sweeps
    "close_date_passed-digest-escalated-approved": Scenario(
        _finding(
            "close_date_passed",
            "opportunity",
            "006LATE",
            opportunity_name="Initech renewal",
            days_past_close=12,
        ),
        _press("resolve", "U0ALICE", timedelta(days=2, hours=2)),
        "resolved_by_human",
        escalated=True,
    ),
    "payment_missing-snoozed-dismissed": Scenario(
        _finding(
            "payment_missing",
            "opportunity",
            "006UNPAID",
            opportunity_name="Initech expansion",
            unpaid_invoice_count=1,
            invoice_id="in_unpaid",
        ),
        _then(
            _press("snooze", "U0ALICE", timedelta(hours=4)),
            _press("dismiss", "U0ALICE", timedelta(days=1), reason="Paid by wire"),
        ),
        "dismissed",
    ),
    "app_account_missing-resolved_externally": Scenario(
        _finding("app_account_missing", "account", "001NOAPP", account_type="Customer"),
        _event("account.linked", "product", timedelta(days=3)),
        "resolved_externally",
    ),
    # unknown: the general error
    "unknown-expired": Scenario(_unknown("run-1"), _nothing, "expired", escalated=True),
    "unknown-recurring-approved": Scenario(
        _unknown("run-9"),
        _press("retry", ADMIN, timedelta(hours=3)),
        "resolved_by_human",
        resolving={"source.retry"},
        lookups={"canary.signature_count": {"signature_seen": 3}},
    ),
}


def _generic(error_type: str) -> Scenario:
    """A type no scenario covers yet: the first closing button, pressed by an admin."""
    sop = next(s for s in load_catalog().sops if s.type == error_type)
    closing = next((a for a in sop.actions if a.closes_as and not a.select_from), None)
    kind = sop.subject_kinds[0] if sop.subject_kinds else "thing"
    detection = _finding(error_type, kind, f"{error_type}-1")
    if closing is None:
        return Scenario(detection, _nothing, "expired")
    return Scenario(
        detection, _press(closing.id, ADMIN, MINUTES_10), closing.closes_as or "resolved_by_human"
    )


def scenarios() -> dict[str, Scenario]:
    found = dict(SCENARIOS)
    for sop in load_catalog().sops:
        if not any(name.startswith(f"{sop.type}-") for name in found):
            found[f"{sop.type}-generic"] = _generic(sop.type)
    return found


# -- recording ----------------------------------------------------------------------------


async def _chain(env: WorkflowEnvironment, handle: WorkflowHandle) -> list[WorkflowHistory]:
    """Every run's history, first to latest, following the continue-as-new events."""
    run_id = handle.first_execution_run_id or handle.result_run_id
    histories: list[WorkflowHistory] = []
    while True:
        history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return histories
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


def _check(name: str, scenario: Scenario, record: ResolutionRecord, runs: int) -> None:
    problems = []
    if record.outcome != scenario.outcome:
        problems.append(f"outcome {record.outcome}, not {scenario.outcome}")
    if scenario.escalated and record.highest_escalation_level < 1:
        problems.append("never escalated")
    if runs < scenario.runs:
        problems.append(f"{runs} run(s), not {scenario.runs}")
    if problems:
        raise AssertionError(f"{name}: {'; '.join(problems)}")


async def record(dest: Path = HERE, only: list[str] | None = None) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    test_server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server), data_converter=canary_data_converter
    )
    written: list[Path] = []
    try:
        for name, scenario in scenarios().items():
            if only and name not in only:
                continue
            fake = FakeServices(
                pay_results=list(scenario.pays),
                resolving=set(scenario.resolving),
                lookups=scenario.lookups,
            )
            config = RemediationConfig(search_attributes=False, admins=[ADMIN])
            if scenario.continue_as_new_after is not None:
                config.continue_as_new_after = scenario.continue_as_new_after
            async with Worker(
                env.client,
                task_queue="record",
                workflows=[RemediationWorkflow],
                activities=[*fake.all(), *fake.alerting()],
            ):
                handle = await env.client.start_workflow(
                    RemediationWorkflow.run,
                    RemediationInput(
                        detection=scenario.detection,
                        config=config,
                        # A detector's finding carries the owner it looked up in Salesforce
                        # (canary.raise_detection's trusted path); a report's is not trusted.
                        owner_email=scenario.detection.account.owner_email
                        if scenario.detection.source.startswith("detector:")
                        else None,
                        # Stripe's reports come through its signed webhook, as in production.
                        signed_by_stripe=scenario.detection.source == "stripe",
                        from_canary_detector=scenario.detection.source.startswith("detector:"),
                    ),
                    id=name,
                    task_queue="record",
                    result_type=ResolutionRecord,
                )
                await scenario.drive(env, handle)
                result = await handle.result()
                histories = await _chain(env, handle)
            _check(name, scenario, result, len(histories))
            for number, history in enumerate(histories, start=1):
                path = dest / (f"{name}.json" if number == 1 else f"{name}-run{number}.json")
                path.write_text(history.to_json())
                written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(only=sys.argv[1:] or None)):
        print(path)
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written. Skip interpreter teardown: the Temporal core's threads can
    # outlive it and abort the process ("PyGILState_Release … finalizing", temporalio/
    # sdk-python#300), which made `make histories` fail now and then after succeeding.
    os._exit(0)
