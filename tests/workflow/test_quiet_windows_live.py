"""Quiet windows on the dev server, through what people use: `open_window` (the CLI's path)
starts a window whose memo the remediations' real lookup reads from Temporal's visibility
store; a matching remediation is muted; ending the window alerts it at once; the same id is
not opened twice, a window is not ended twice, and the CLI refuses a window without an end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities import Services, WindowActivities
from canary.models import QuietWindow, RemediationConfig, RemediationInput, RemediationStatus
from canary.reports.collect import build_report, report_request
from canary.reports.render import render_text
from canary.settings import Settings
from starter.cli import app
from starter.windows import WindowError, end_window, list_windows, open_window
from tests.fakes import FakeServices
from tests.helpers import eventually
from tests.workflow.test_quiet_windows import zap_failure
from workflows import QuietWindowWorkflow, RemediationWorkflow


@pytest.mark.asyncio
async def test_a_window_opened_from_the_cli_path_mutes_and_its_end_alerts(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"windows-{uuid.uuid4().hex[:6]}"
    settings = Settings(task_queue=queue)
    now = datetime.now(UTC)
    account = f"Hooli {uuid.uuid4().hex[:6]}"
    window = QuietWindow(
        id=f"hooli-migration-{uuid.uuid4().hex[:6]}",
        account=account.lower(),
        starts_at=now - timedelta(seconds=5),
        ends_at=now + timedelta(days=2),
        reason="Hooli billing migration",
        opened_by="dana@acme-gtm.example",
    )
    real_lookup = WindowActivities(Services(settings, temporal=dev_env.client)).quiet_windows
    fake = FakeServices(read_windows=real_lookup)
    activities = [a for a in fake.all() if a != fake.quiet_windows] + [real_lookup]
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow, QuietWindowWorkflow],
        activities=activities,
    ):
        await open_window(dev_env.client, window, settings)
        with pytest.raises(WindowError, match="already open"):
            await open_window(dev_env.client, window, settings)
        listed = await eventually(
            lambda: list_windows(dev_env.client), lambda ws: any(w.id == window.id for w in ws)
        )
        assert next(w for w in listed if w.id == window.id) == window

        detection = zap_failure(account)
        handle = await dev_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=f"unknown:zap_run:{detection.subject.id}",
            task_queue=queue,
        )
        muted: RemediationStatus = await eventually(
            lambda: handle.query(RemediationWorkflow.status),
            lambda s: any(e.kind == "muted" for e in s.timeline),
        )
        assert muted.slack is None and not [p for p in fake.posts if p.workflow_id == handle.id]

        ended = await end_window(dev_env.client, window.id, "U0DANA")
        assert ended.ended_by == "U0DANA"
        alerted: RemediationStatus = await eventually(
            lambda: handle.query(RemediationWorkflow.status), lambda s: s.slack is not None
        )
        assert alerted.state == "awaiting_human"
        alert = next(p for p in fake.posts if p.workflow_id == handle.id and not p.ts)
        assert "Opened during the quiet window “Hooli billing migration”" in str(alert.blocks)
        with pytest.raises(WindowError):
            await end_window(dev_env.client, window.id, "U0DANA")
        await handle.terminate("test over")

    # The report lists the window over the period it was open in, as it ended.
    report = await eventually(
        lambda: build_report(dev_env.client, settings, report_request("1h")),
        lambda r: any(w.id == window.id for w in r.windows),
    )
    shown = next(w for w in report.windows if w.id == window.id)
    assert shown.ended_by == "U0DANA" and shown.end < window.ends_at
    assert "“Hooli billing migration” (by dana@acme-gtm.example; ended early by U0DANA)" in (
        render_text(report)
    )


def test_the_cli_refuses_a_window_without_an_end_or_a_scope() -> None:
    runner = CliRunner()
    no_end = runner.invoke(app, ["windows", "open", "--reason", "r", "--account", "a", "--by", "x"])
    assert no_end.exit_code == 1 and "--for" in no_end.output
    no_scope = runner.invoke(app, ["windows", "open", "--reason", "r", "--for", "1d", "--by", "x"])
    assert no_scope.exit_code == 1
    assert "names an account, an error type or both" in no_scope.output
    bad = runner.invoke(
        app, ["windows", "open", "--reason", "r", "--account", "a", "--for", "soon", "--by", "x"]
    )
    assert bad.exit_code == 1 and "not a duration" in bad.output
