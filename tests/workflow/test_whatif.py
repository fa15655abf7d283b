"""`canary whatif` (issue 19, part 2), run as a user runs it (the real CLI, a subprocess):

- on the recorded histories of tests/histories: the catalog they were recorded with changes
  nothing; a catalog with a new branch changes exactly the remediations that branch takes; a
  catalog that drops an SOP exits 1 and names the reports that would become unknown;
- on remediations in Temporal (a dev server of this module's own, the sandbox's Stripe,
  Salesforce and Slack, a worker): the same comparisons from visibility and histories, while
  the sandbox records no request at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from activities import Services
from canary import search_attributes as sa
from canary.catalog import DEFAULT_CATALOG
from canary.converter import canary_data_converter
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.conftest import _binary
from tests.helpers import eventually
from tests.stack import API_TOKEN, LiveStack, live_stack
from tests.workflow.test_end_to_end_crm import detect
from worker import build_worker, remediation_activities
from workflows import remediation_id

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
CONFLICT = "Recipe 'Sync usage' failed: HTTP 409 conflict on record 1000"


def catalog_file(tmp_path: Path, name: str, change: Any) -> Path:
    """The default catalog with ``change`` applied to its data, as a team edits it."""
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    data["version"] = name
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def without(error_type: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["sops"] = [s for s in data["sops"] if s["type"] != error_type]

    return change


def with_branch(error_type: str, branch: dict[str, Any]) -> Any:
    def change(data: dict[str, Any]) -> None:
        sop = next(s for s in data["sops"] if s["type"] == error_type)
        sop["branches"].insert(0, branch)

    return change


def whatif(*args: str, stack: LiveStack | None = None) -> tuple[int, str, str]:
    """`canary whatif ARGS` in a clean environment (no settings of this shell); with a stack,
    configured as its worker is: its Temporal, and Stripe, Slack, Salesforce and the warehouse
    of its sandbox, which the what-if must not call."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CANARY_", "OTEL_", "STRIPE_", "SLACK_", "SALESFORCE_"))
    }
    if stack is not None:
        settings = stack.settings
        env.update(
            TEMPORAL_ADDRESS=stack.client.service_client.config.target_host,
            TEMPORAL_NAMESPACE="default",
            STRIPE_API_KEY=settings.stripe_api_key or "",
            STRIPE_API_BASE=settings.stripe_api_base or "",
            SLACK_BOT_TOKEN=settings.slack_bot_token or "",
            SLACK_API_URL=settings.slack_api_url or "",
            SALESFORCE_INSTANCE_URL=settings.salesforce_instance_url or "",
            SALESFORCE_ACCESS_TOKEN=settings.salesforce_access_token or "",
            CANARY_WAREHOUSE_URL=settings.warehouse_url,
        )
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "whatif", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


# -- on the recorded histories -------------------------------------------------------------------


def recorded_facts(path: Path) -> dict[str, Any]:
    """The facts the recorded diagnosis saw, read from the history's JSON by hand (not by the
    code under test): the canary.investigate marker's result."""
    for event in json.loads(path.read_text())["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker:
            continue
        data = json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))
        result = marker["details"].get("result")
        if data.get("activity_type") == "canary.investigate" and result:
            found = json.loads(base64.b64decode(result["payloads"][0]["data"]))
            if found.get("diagnosis"):
                return dict(found["diagnosis"].get("facts") or {})  # left out when empty
    return {}


def test_the_recorded_catalog_changes_nothing() -> None:
    code, out, err = whatif("--catalog", str(DEFAULT_CATALOG), "--json", str(HISTORIES))
    assert code == 0, err
    result = json.loads(out)
    assert len(result["remediations"]) == len(list(HISTORIES.glob("*.json")))
    assert result["summary"]["changed"] == 0 and not result["unreadable"]


def test_a_new_branch_changes_exactly_the_remediations_it_takes(tmp_path: Path) -> None:
    catalog = catalog_file(
        tmp_path,
        "new-branch",
        with_branch(
            "payment_failed",
            {
                "id": "funds_big_account",
                "title": "Insufficient funds: call the customer first",
                "when": {"field": "facts.decline_code", "equals": "insufficient_funds"},
                "severity": "critical",
                "summary": "Call the customer before the next retry.",
            },
        ),
    )
    code, out, err = whatif("--catalog", str(catalog), "--json", str(HISTORIES))
    assert code == 0, err
    changed = {c["workflow_id"]: c for c in json.loads(out)["remediations"] if c["changed"]}
    expected = {
        path.stem
        for path in HISTORIES.glob("*.json")
        if recorded_facts(path).get("decline_code") == "insufficient_funds"
    }
    assert expected and set(changed) == expected
    for item in changed.values():
        assert item["after"]["branch"] == "funds_big_account"
        assert item["after"]["severity"] == "critical"
        assert {"branch", "severity", "automated"} <= set(item["changed"])
    # Said for people too, with the summary.
    code, text, _ = whatif("--catalog", str(catalog), str(HISTORIES))
    assert code == 0
    assert "branch: insufficient_funds → funds_big_account" in text
    assert f"{len(changed)} would change" in text


def test_dropping_an_sop_exits_1_and_names_the_reports_it_handled(tmp_path: Path) -> None:
    catalog = catalog_file(tmp_path, "no-stage", without("stage_mismatch"))
    code, out, err = whatif("--catalog", str(catalog), str(HISTORIES))
    assert code == 1, err
    handled = sorted(p.stem for p in HISTORIES.glob("stage_mismatch-*.json"))
    assert handled
    named = out[out.index("would become unknown:") :].split()[3:]
    assert named == handled
    assert "error type: stage_mismatch → unknown" in out


def test_a_catalog_that_does_not_load_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: x\nsops: []\n")
    code, _, err = whatif("--catalog", str(broken), str(HISTORIES))
    assert code == 2 and "unknown" in err


# -- on remediations in Temporal ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own: the window holds only this module's remediations."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=canary_data_converter,
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def past(temporal: WorkflowEnvironment) -> AsyncIterator[tuple[LiveStack, dict[str, str]]]:
    """Last month's errors, made the way they happen: a declined card through Stripe's
    webhook, a product report and a workflow tool's 409. The worker stops once they are
    diagnosed and alerted, so that nothing but the what-if runs afterwards."""
    async with live_stack(temporal.client, worker=False) as stack:
        activities = remediation_activities(Services(stack.settings, temporal=temporal.client))
        async with build_worker(temporal.client, stack.settings, activities=activities):
            ids = {
                "globex": remediation_id(
                    "payment_failed", "invoice", fail_a_payment(stack.stripe, CUSTOMERS[0])
                ),
                "stark": await detect(
                    stack,
                    {
                        "source": "product",
                        "subject": {"kind": "app_account", "id": "app_stark"},
                        "account": {"domain": "stark.example"},
                        "message": "New workspace without a CRM account",
                    },
                ),
                "conflict": await detect(
                    stack,
                    {
                        "source": "workato",
                        "subject": {"kind": "app_account", "id": "app_globex"},
                        "message": CONFLICT,
                    },
                ),
            }
            for workflow_id in ids.values():
                await eventually(
                    lambda workflow_id=workflow_id: get_status(stack.client, workflow_id),  # type: ignore[misc]
                    lambda s: s is not None and s.diagnosis is not None and s.slack is not None,
                    timeout=60,
                )
        # Visibility lists them once it has caught up.
        await eventually(
            lambda: stack.client.count_workflows(sa.REMEDIATIONS),
            lambda c: c.count == len(ids),
        )
        yield stack, ids


async def test_whatif_reads_temporal_and_calls_nothing(
    past: tuple[LiveStack, dict[str, str]], tmp_path: Path
) -> None:
    stack, ids = past
    await stack.http.delete(f"{stack.sandbox.url}/_sandbox/requests")
    catalog = catalog_file(
        tmp_path,
        "conflicts",
        with_branch(
            "unknown",
            {
                "id": "sync_conflict",
                "title": "A sync hit a conflict (HTTP 409)",
                "when": {"field": "message", "matches": r"\b409\b"},
                "summary": "Another write holds the record; re-run the sync.",
            },
        ),
    )
    dropped = catalog_file(tmp_path, "no-unlinked", without("account_unlinked"))

    # In a thread: the worker and the gateway of this event loop keep answering meanwhile.
    code, out, err = await asyncio.to_thread(
        whatif, "--catalog", str(catalog), "--since", "1h", "--json", stack=stack
    )
    assert code == 0, err
    result = json.loads(out)
    assert {c["workflow_id"] for c in result["remediations"]} == set(ids.values())
    changed = [c for c in result["remediations"] if c["changed"]]
    assert [c["workflow_id"] for c in changed] == [ids["conflict"]]
    assert changed[0]["before"]["branch"] == "general_error"
    assert changed[0]["after"]["branch"] == "sync_conflict"

    code, out, err = await asyncio.to_thread(
        whatif, "--catalog", str(dropped), "--since", "1h", stack=stack
    )
    assert code == 1, err
    assert out.rstrip().endswith(f"would become unknown:\n  {ids['stark']}")
    only = await asyncio.to_thread(
        whatif, "--catalog", str(dropped), "--type", "payment_failed", "--json", stack=stack
    )
    assert only[0] == 0, only[2]
    assert [c["workflow_id"] for c in json.loads(only[1])["remediations"]] == [ids["globex"]]

    # Nothing reached Stripe, Salesforce or Slack while the what-ifs ran.
    seen = await stack.requests()
    assert seen == [], [(r["service"], r["method"], r["path"], r.get("body")) for r in seen]


async def test_the_dashboard_links_the_default_catalog_against_canary_catalog(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A deployment with its own catalog (CANARY_CATALOG): a 409 its extra branch took. The
    dashboard links the comparison, which shows the default catalog would leave it to the
    general error's usual branch, and nothing else changes."""
    own = catalog_file(
        tmp_path,
        "ours",
        with_branch(
            "unknown",
            {
                "id": "sync_conflict",
                "title": "A sync hit a conflict (HTTP 409)",
                "when": {"field": "message", "matches": r"\b409\b"},
                "summary": "Another write holds the record; re-run the sync.",
            },
        ),
    )
    async with live_stack(temporal.client, catalog_path=str(own)) as stack:
        conflict = await detect(
            stack,
            {
                "source": "workato",
                "subject": {"kind": "app_account", "id": "app_umbrella"},
                "message": CONFLICT,
            },
        )
        status = await eventually(
            lambda: get_status(stack.client, conflict),
            lambda s: s is not None and s.diagnosis is not None,
            timeout=60,
        )
        assert status is not None and status.diagnosis is not None
        assert status.diagnosis.branch == "sync_conflict"
        await eventually(
            lambda: stack.client.count_workflows(f"WorkflowId = '{conflict}'"),
            lambda c: c.count == 1,
        )
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        page = await stack.http.get(f"{stack.gateway_url}/report?since=1h", headers=headers)
        assert page.status_code == 200
        assert 'id="whatif-link" href="/whatif?since=1h"' in page.text
        found = await stack.http.get(
            f"{stack.gateway_url}/api/whatif", params={"since": "1h"}, headers=headers
        )
        assert found.status_code == 200, found.text
        changed = [c for c in found.json()["remediations"] if c["changed"]]
        assert [
            (c["workflow_id"], c["before"]["branch"], c["after"]["branch"]) for c in changed
        ] == [(conflict, "sync_conflict", "general_error")]
        text = await stack.http.get(
            f"{stack.gateway_url}/whatif", params={"since": "1h"}, headers=headers
        )
        assert "branch: sync_conflict → general_error" in text.text
        refused = await stack.http.get(f"{stack.gateway_url}/api/whatif")
        assert refused.status_code == 401
