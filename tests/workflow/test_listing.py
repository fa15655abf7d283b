"""`canary list` on a real dev server: one definition of *open* for the list, the report and
the Temporal UI's saved view (a remediation cooling down after it closed is not open), and a
table people can read (a header, aligned columns, the account and a headline)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary import search_attributes as sa
from canary.models import AccountRef, ActionRequest, Detection, RemediationSummary, Subject
from canary.reports import build_report, report_request
from canary.settings import Settings
from starter.intake import get_status, submit_detection, take_action
from starter.listing import list_remediations, listing_table
from tests.fakes import FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow

CANARY = str(Path(sys.executable).parent / "canary")


def spend_rise(subject: str) -> Detection:
    """A finding whose SOP cools down after a person dismisses it (account_shift)."""
    return Detection(
        id=f"account_shift:{subject}:day1",
        type="account_shift",
        source="detector:spend-shift",
        subject={"kind": "account_metric", "id": subject},
        account={"name": "Hooli", "crm_id": "001Hx0000000004IAA"},
        message="Weekly spend up 110% on its 8-week mean",
        facts={"direction": "up", "change_display": "+110%"},
    )


def zap_failure(subject: str) -> Detection:
    return Detection(
        source="zapier",
        subject={"kind": "zap_run", "id": subject},
        account={"name": "Umbrella Corp", "domain": "umbrella.example"},
        message="Zap 'Sync HubSpot deals' failed at step 3: HubSpot returned 502",
    )


async def test_open_is_the_same_for_the_list_the_report_and_the_saved_view(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    settings = Settings(task_queue=f"listing-{uuid.uuid4().hex[:8]}")
    tag = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=settings.task_queue, workflows=[RemediationWorkflow],
                      activities=FakeServices().all()):  # fmt: skip
        cooling = await submit_detection(
            client, spend_rise(f"001Hx0000000004IAA.spend-{tag}"), settings,
            owner_email="alice@acme-gtm.example",
        )  # fmt: skip
        waiting = await submit_detection(client, zap_failure(f"zap-{tag}"), settings)
        for submitted in (cooling, waiting):
            await eventually(
                lambda s=submitted: get_status(client, s.workflow_id),
                lambda status: status is not None and status.state == "awaiting_human",
            )
        dismissed = await take_action(
            client,
            cooling.workflow_id,
            ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
        )
        assert dismissed.accepted, dismissed
        ours = {cooling.workflow_id, waiting.workflow_id}

        # The dismissed one cools down: its run goes on, in a closed state.
        handle = client.get_workflow_handle(cooling.workflow_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await eventually(
            lambda: client.count_workflows(
                f"WorkflowId = '{cooling.workflow_id}' AND {sa.STATE.name} = 'dismissed'"
            ),
            lambda counted: counted.count == 1,
        )

        listed = await list_remediations(client)
        assert ours <= {s.workflow_id for s in listed}
        listed_open = {s.workflow_id for s in await list_remediations(client, open_only=True)}
        report = await build_report(client, settings, report_request(since="1h"))
        reported_open = {o.workflow_id for o in report.open.items}
        saved_view = set()
        async for execution in client.list_workflows(sa.open_remediations()):
            saved_view.add(execution.id)
        assert listed_open & ours == reported_open & ours == saved_view & ours
        assert listed_open & ours == {waiting.workflow_id}

        # The command people run: a header, our open remediation, not the cooling one.
        environment = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("TEMPORAL_", "CANARY_", "STRIPE_", "SLACK_"))
        }  # fmt: skip
        environment["TEMPORAL_ADDRESS"] = client.service_client.config.target_host
        done = await asyncio.to_thread(
            subprocess.run, [CANARY, "list", "--open"], env=environment,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split() == [
            "STATE", "OUTCOME", "TYPE", "ACCOUNT", "HEADLINE", "STARTED", "(UTC)", "WORKFLOW", "ID"
        ]  # fmt: skip
        row = next(line for line in lines if line.endswith(waiting.workflow_id))
        assert "Umbrella Corp" in row and row.startswith("awaiting_human")
        assert cooling.workflow_id not in done.stdout


def summary(workflow_id: str, account: str, headline: str, **extra: object) -> RemediationSummary:
    return RemediationSummary.model_validate(
        {
            "workflow_id": workflow_id,
            "error_type": workflow_id.split(":")[0],
            "state": "awaiting_human",
            "subject": Subject(kind="invoice", id=workflow_id.rsplit(":", 1)[-1]),
            "subject_id": workflow_id.rsplit(":", 1)[-1],
            "account": AccountRef(name=account),
            "headline": headline,
            "started_at": datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
            "updated_at": datetime(2026, 12, 4, 9, 30, tzinfo=UTC) + timedelta(minutes=5),
            **extra,
        }
    )


def test_the_table_has_a_header_and_aligned_columns() -> None:
    rows = [
        summary("payment_failed:invoice:in_1", "Globex Corporation",
                "Payment failed: Globex Corporation — $48,000.00"),
        summary("unknown:zap_run:zap-sync-hubspot-deals-8812", "Umbrella Corp",
                "zapier reported an error Canary has no SOP for, " * 4,
                state="resolved", outcome="resolved_by_human"),
        summary("account_unlinked:app_account:app_soylent", "A" * 80, "Unlinked: Soylent"),
    ]  # fmt: skip
    lines = listing_table(rows).splitlines()
    assert lines[0].startswith("STATE") and set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + len(rows)
    # Every column starts where its header does, on every row.
    starts = [lines[0].index(h) for h in ("OUTCOME", "TYPE", "ACCOUNT", "HEADLINE", "STARTED",
                                          "WORKFLOW ID")]  # fmt: skip
    for line, item in zip(lines[2:], rows, strict=True):
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        assert cells[0] == (item.outcome or "-") and cells[1] == item.error_type
        assert cells[4] == "2026-12-04 09:30" and cells[5] == item.workflow_id
        assert len(line[starts[2] : starts[3]].rstrip()) <= 24  # the account, cut with "…"
    assert "Globex Corporation" in lines[2] and "$48,000.00" in lines[2]
    assert "…" in lines[3] and "…" in lines[4]


def test_the_readme_shows_the_saved_views_of_remediations() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"\n   {sa.KIND.name} = '{sa.REMEDIATION}'\n" in readme
    assert f"\n   {sa.open_remediations()}\n" in readme


async def test_a_remediation_whose_worker_is_gone_does_not_hang_the_list(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its status query finds no worker to answer: the listing waits a bounded time and shows
    what visibility knows, instead of hanging `canary list` (and the report, and the Home)."""
    monkeypatch.setattr("starter.listing.STATUS_QUERY_TIMEOUT", timedelta(seconds=1))
    client = dev_env.client
    settings = Settings(task_queue=f"orphan-{uuid.uuid4().hex[:8]}")
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[RemediationWorkflow],
        activities=FakeServices().all(),
    ):
        orphan = await submit_detection(
            client, zap_failure(f"zap-orphan-{uuid.uuid4().hex[:8]}"), settings
        )
        await eventually(
            lambda: get_status(client, orphan.workflow_id),
            lambda status: status is not None and status.state == "awaiting_human",
        )
    # The worker is gone; the remediation still runs, waiting for a person. Without its own
    # bound the query waits for the server's (about 30 s, per remediation listed): the guard
    # below is a hang check, far above the 1 s bound the listing is given here.
    listed = await asyncio.wait_for(list_remediations(client, open_only=True), timeout=20)
    mine = next(s for s in listed if s.workflow_id == orphan.workflow_id)
    assert mine.error_type == "unknown" and mine.state == "awaiting_human"
    await client.get_workflow_handle(orphan.workflow_id).terminate("test over")
