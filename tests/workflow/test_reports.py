"""Reports, export/replay and Canary's metrics on a real dev server (tests/report_scenario.py
says what was driven and so what the numbers must be)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio import workflow
from temporalio.worker import Replayer
from typer.testing import CliRunner

import workflows
from canary.client import connect
from canary.converter import canary_data_converter
from canary.metrics import MetricsInterceptor, temporal_runtime, use_meter_provider
from canary.models import RemediationInput, ResolutionRecord
from canary.reports import Report, build_report, report_request
from canary.settings import Settings
from starter.cli import app as cli_app
from starter.replay import export_history, history_from_file, replay_histories
from tests.helpers import free_port
from tests.report_scenario import (  # noqa: F401 - the fixture is used by name
    ZAP_ERROR,
    Scenario,
    report_scenario,
)

CANARY = str(Path(sys.executable).parent / "canary")


def window(scenario: Scenario) -> tuple[str, str]:
    since = scenario.started - timedelta(minutes=5)
    until = datetime.now(UTC) + timedelta(minutes=5)
    return since.isoformat(), until.isoformat()


def cli_env(scenario: Scenario) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CANARY_", "OTEL_", "STRIPE_", "SLACK_"))
    }
    env.update(
        TEMPORAL_ADDRESS=scenario.target,
        TEMPORAL_NAMESPACE="default",
        CANARY_TEMPORAL_UI_URL=scenario.ui_url,
        CANARY_TASK_QUEUE=scenario.queue,
        CANARY_LOG_FORMAT="text",
    )
    return env


async def canary_cli(scenario: Scenario, *args: str) -> subprocess.CompletedProcess[str]:
    # In a thread: the scenario's worker shares this event loop and must keep answering the
    # status queries the command makes.
    return await asyncio.to_thread(
        subprocess.run,
        [CANARY, *args],
        env=cli_env(scenario),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def scenario_report(scenario: Scenario) -> Report:
    since, until = window(scenario)
    return await build_report(scenario.env.client, scenario.settings, report_request(since, until))


async def test_report_numbers(report_scenario: Scenario) -> None:  # noqa: F811
    scenario = report_scenario
    report = await scenario_report(scenario)
    ids = scenario.ids
    assert (report.totals.open_now, report.totals.opened, report.totals.closed) == (5, 11, 6)
    assert report.totals.occurrences == 12
    assert report.unreadable == [] and not report.truncated

    # The records that need fixing, oldest first, each with its Temporal and Slack links.
    assert [o.workflow_id for o in report.open.items] == [
        ids[s] for s in ("in_open", "zap-1", "zap-2", "zap-3", "zap-4")
    ]
    assert report.open.by_type == {"unknown": 4, "payment_failed": 1}
    assert report.open.by_severity == {"medium": 4, "high": 1}
    assert report.open.by_escalation_level == {"0": 5}
    first = report.open.items[0]
    assert first.occurrences == 2 and first.account == "Globex"
    assert first.owner == "alice@acme-gtm.example"
    assert first.temporal_url.startswith(f"{scenario.ui_url}/namespaces/default/workflows/")
    status = await scenario.env.client.get_workflow_handle(first.workflow_id).query(
        workflows.RemediationWorkflow.status
    )
    assert status.slack and first.slack_url == status.slack.permalink
    assert first.slack_url and first.slack_url.startswith("https://acme.slack.com/archives/")

    assert {o.outcome: o.count for o in report.outcomes} == {
        "auto_resolved": 2,
        "resolved_by_human": 1,
        "resolved_externally": 1,
        "dismissed": 1,
        "expired": 1,
    }
    assert {o.outcome: o.share for o in report.outcomes}["auto_resolved"] == round(2 / 6, 4)
    # The one dismissal, by the reason its form asked for.
    assert [(d.reason, d.count, d.by_type) for d in report.dismissals] == [
        ("Not a real problem", 1, {"payment_failed": 1})
    ]

    by_type = {s.error_type: s for s in report.by_type}
    payments = by_type["payment_failed"]
    assert (payments.opened, payments.closed, payments.open_now, payments.occurrences) == (
        6,
        5,
        1,
        7,
    )
    records = scenario.records
    durations = [
        records[s].time_to_resolution.total_seconds()
        for s in ("in_auto", "in_human", "in_paid", "in_dismiss", "in_expire")
    ]
    assert payments.mttr.count == 5
    assert payments.mttr.p50 == statistics.median(durations)
    # Two people acted: Alice's retry and her dismissal (Mallory's refused click is no action).
    acted = [
        records[s].time_to_first_human_action.total_seconds()  # type: ignore[union-attr]
        for s in ("in_human", "in_dismiss")
    ]
    assert payments.mtta.count == 2 and payments.mtta.p50 == statistics.mean(acted)
    stage = by_type["stage_mismatch"]
    assert stage.mttr.p50 == records["006GLOBEX"].time_to_resolution.total_seconds()
    assert (by_type["unknown"].opened, by_type["unknown"].open_now) == (4, 4)

    assert records["in_expire"].highest_escalation_level == 2
    spent = {row.error_type: row for row in report.time_spent}
    assert spent["payment_failed"].seconds["escalated"] > 0
    assert spent["stage_mismatch"].seconds["escalated"] == 0
    steps = {(s.error_type, s.step): (s.runs, s.failures) for s in report.steps}
    assert steps == {
        ("payment_failed", "payer-link"): (3, 0),
        ("payment_failed", "card-update-link"): (2, 0),
        ("payment_failed", "scheduled-retry"): (1, 0),
        ("payment_failed", "manual-retry"): (1, 0),
        ("payment_failed", "notify-finance"): (1, 0),
    }

    clusters = report.clusters
    assert [(c.account, c.remediations, c.open) for c in clusters.accounts] == [
        ("Globex", 4, 1),
        ("Initech", 2, 0),
    ]
    assert [(c.error_types, c.accounts, c.count) for c in clusters.co_occurrences] == [
        (["payment_failed", "stage_mismatch"], ["Globex"], 3)
    ]
    assert sorted((b.error_type, b.count) for b in clusters.bursts) == [
        ("payment_failed", 6),
        ("unknown", 4),
    ]
    assert [
        (c.seen, c.remediations, c.open, c.sample, c.source) for c in report.sop_candidates
    ] == [(3, 3, 3, ZAP_ERROR, "zapier")]
    assert sum(day.total for day in report.frequency) == 11


async def test_cli_report_json_equals_the_report(report_scenario: Scenario) -> None:  # noqa: F811
    since, until = window(report_scenario)
    expected = await build_report(
        report_scenario.env.client, report_scenario.settings, report_request(since, until)
    )
    done = await canary_cli(report_scenario, "report", "--json", "--since", since, "--until", until)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    mine = expected.model_dump(mode="json")
    for key in ("generated_at",):
        printed.pop(key), mine.pop(key)
    assert printed == mine

    table = await canary_cli(report_scenario, "report", "--since", since, "--until", until)
    assert table.returncode == 0, table.stderr
    assert "OPEN REMEDIATIONS (5, oldest first)" in table.stdout
    assert "seen 3× in 3 remediations (zapier)" in table.stdout

    page = await canary_cli(report_scenario, "report", "--html", "--since", since, "--until", until)
    assert page.returncode == 0, page.stderr
    assert '<meta http-equiv="refresh"' in page.stdout and "<svg" in page.stdout
    assert "<script" not in page.stdout

    refused = await canary_cli(report_scenario, "report", "--since", "last tuesday")
    assert refused.returncode == 2 and "neither a duration" in refused.stderr


@workflow.defn(name="RemediationWorkflow", sandboxed=False)
class AlteredRemediation:
    """'Current code' someone changed carelessly: it sleeps before anything else, which the
    recorded histories never did. (Unsandboxed: the sandbox would re-import this whole test
    module, HTTP clients included.)"""

    @workflow.run
    async def run(self, input: RemediationInput) -> ResolutionRecord:
        await workflow.sleep(timedelta(minutes=1))
        raise RuntimeError("not reached in a replay")


async def test_export_then_replay(report_scenario: Scenario, tmp_path: Path) -> None:  # noqa: F811
    workflow_id = report_scenario.ids["in_expire"]
    path = tmp_path / f"{workflow_id}.json"
    done = await canary_cli(report_scenario, "export", workflow_id, "-o", str(path))
    assert done.returncode == 0, done.stderr
    exported = json.loads(path.read_text())
    kinds = [e.get("eventType") for e in exported["events"]]
    assert kinds[0] in ("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "WorkflowExecutionStarted")
    # Protobuf maps serialise in any order: compare the events, not the text.
    fetched = await report_scenario.env.client.get_workflow_handle(workflow_id).fetch_history()
    assert history_from_file(path).events == fetched.events
    assert json.loads(await export_history(report_scenario.env.client, workflow_id)) == exported

    replayed = await canary_cli(report_scenario, "replay", str(path))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[0].startswith(f"ok                 {workflow_id}")

    # Every closed remediation of the scenario, straight from Temporal.
    closed = await canary_cli(
        report_scenario, "replay", "--query", "ExecutionStatus = 'Completed'", "--json"
    )
    assert closed.returncode == 0, closed.stdout + closed.stderr
    outcomes = json.loads(closed.stdout)
    assert sorted(o["workflow_id"] for o in outcomes) == sorted(
        report_scenario.ids[s]
        for s in ("in_auto", "in_human", "in_paid", "in_dismiss", "in_expire", "006GLOBEX")
    )
    assert {o["result"] for o in outcomes} == {"ok"}

    # The same history against altered code: reported, with the reason.
    history = history_from_file(path)
    [verdict] = await replay_histories([(history, str(path))], workflows=[AlteredRemediation])
    assert verdict.result == "non-deterministic"
    assert verdict.reason and "nondetermin" in verdict.reason.lower()


def test_replay_cli_exits_non_zero_on_a_broken_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(__file__).parents[1] / "histories" / "payment_failed-approved.json"
    (tmp_path / "payment_failed-approved.json").write_text(source.read_text())
    monkeypatch.setattr(workflows, "WORKFLOWS", [AlteredRemediation])
    result = CliRunner().invoke(cli_app, ["replay", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("non-deterministic  payment_failed-approved")
    assert "0 ok, 1 failed" in result.output


def _points(scenario: Scenario, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {
        tuple(sorted(attributes.items())): value
        for attributes, value in scenario.metrics.get(name, [])
    }


async def test_metrics_of_the_scenario(report_scenario: Scenario) -> None:  # noqa: F811
    scenario = report_scenario
    assert _points(scenario, "canary.detections") == {
        (("error_type", "payment_failed"), ("source", "stripe")): 7,
        (("error_type", "stage_mismatch"), ("source", "stripe")): 1,
        (("error_type", "unknown"), ("source", "zapier")): 4,
    }
    assert _points(scenario, "canary.remediations.opened") == {
        (("error_type", "payment_failed"),): 6,
        (("error_type", "stage_mismatch"),): 1,
        (("error_type", "unknown"),): 4,
    }
    assert not scenario.answers["mallory"].accepted and not scenario.answers["unknown"].accepted
    assert _points(scenario, "canary.actions") == {
        (("accepted", True), ("action", "retry"), ("source", "slack")): 1,
        (("accepted", True), ("action", "dismiss"), ("source", "slack")): 1,
        (("accepted", False), ("action", "dismiss"), ("source", "slack")): 1,
        (("accepted", False), ("action", "explode"), ("source", "slack")): 1,
    }
    assert _points(scenario, "canary.escalations") == {
        (("error_type", "payment_failed"), ("level", 1)): 1,
        (("error_type", "payment_failed"), ("level", 2)): 1,
    }
    resolved = _points(scenario, "canary.remediations.resolved")
    assert resolved == {
        (("error_type", "payment_failed"), ("outcome", "auto_resolved")): 1,
        (("error_type", "payment_failed"), ("outcome", "resolved_by_human")): 1,
        (("error_type", "payment_failed"), ("outcome", "resolved_externally")): 1,
        (("error_type", "payment_failed"), ("outcome", "dismissed")): 1,
        (("error_type", "payment_failed"), ("outcome", "expired")): 1,
        (("error_type", "stage_mismatch"), ("outcome", "auto_resolved")): 1,
    }
    times = _points(scenario, "canary.remediation.time_to_resolution")
    expired = times[(("error_type", "payment_failed"), ("outcome", "expired"))]
    assert expired == (1, scenario.records["in_expire"].time_to_resolution.total_seconds())

    # Replaying a history (a restarted worker, an evicted cache) counts nothing again.
    reader = InMemoryMetricReader()
    use_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        history = await scenario.env.client.get_workflow_handle(
            scenario.ids["in_expire"]
        ).fetch_history()
        replayer = Replayer(
            workflows=[workflows.RemediationWorkflow],
            data_converter=canary_data_converter,
            interceptors=[MetricsInterceptor()],
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None
        data = reader.get_metrics_data()
        recorded = [
            (m.name, p.attributes)
            for rm in (data.resource_metrics if data else [])
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
        ]
        assert recorded == []
    finally:
        from opentelemetry import metrics as otel_metrics

        use_meter_provider(otel_metrics.get_meter_provider())


async def test_temporal_runtime_metrics_on_prometheus(report_scenario: Scenario) -> None:  # noqa: F811
    port = free_port()
    settings = Settings(
        temporal_address=report_scenario.target, prometheus_bind=f"127.0.0.1:{port}"
    )
    assert temporal_runtime(Settings()) is None
    runtime = temporal_runtime(settings)
    assert runtime is not None and temporal_runtime(settings) is runtime
    client = await connect(settings)
    assert client.service_client.config.runtime is runtime
    await client.count_workflows()
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    assert "temporal_request" in answer.text
