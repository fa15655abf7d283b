"""`make demo` twice, as a new user runs it: `canary up --scenario` started, stopped and
started again in one data directory shows the whole scenario both times, and keeps its API
token. The self-serve customer's payment is recovered by the plan's second retry (in seconds:
the demo's catalog) with no Slack message about it, and Globex's alert carries the plan. On
the chat page, Dan dismisses the first Zapier alert with a reason from the SOP's choices (a
click, Canary's form, its submission, as Slack delivers them) and opens his Home tab; the
printout says where to look at both.

The stack is the real one, as child processes of `canary up` (Temporal's dev server, the
sandbox, the gateway, a worker) on free ports. A remediation counts as shown once a message in
the sandbox's `#gtm-alerts` carries it: its own alert (buttons and a Temporal UI link name its
workflow id) or an owner's digest (its buttons do).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import stripe
from slack_sdk import WebClient
from temporalio.client import Client

from canary import search_attributes as sa
from canary.catalog import load_catalog
from canary.recovery.plans import RetryPlan, planned_attempts
from canary.rules.catalog import load_detectors
from starter.demo_catalog import DEMO_CATALOG_FILE
from starter.scenario import CUSTOMERS, DEMO_DISMISS_REASON, DEMO_PERSON, SELF_SERVE
from starter.stack import API_TOKEN_FILE, DEMO_SLACK_TOKEN, DEMO_STRIPE_KEY
from tests.processes import Child
from tests.stack import free_port

#: The detectors the scenario runs once (every enabled one of the default catalog).
DETECTORS = {d.id for d in load_detectors().detectors if d.enabled}
SCENARIO_FED = "click the buttons; watch"
#: Long enough for the stack to start and the scenario to be fed on a busy two-core machine.
START_TIMEOUT = 300.0


class Demo:
    """One `canary up --scenario` on its own ports, in ``data_dir``."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.ports = {
            name: free_port() for name in ("temporal", "ui", "gateway", "sandbox", "smtp")
        }
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("CANARY_", "STRIPE_", "SLACK_", "SALESFORCE_", "TEMPORAL_", "OTEL_")
            )
        }
        self.child = Child(
            [sys.executable, "-m", "starter.cli", "up", "--scenario", "--data-dir", str(data_dir),
             *(arg for name, port in self.ports.items()
               for arg in (f"--{name}-port", str(port)))],
            log,
            environment,
        )  # fmt: skip
        self.sandbox_url = f"http://127.0.0.1:{self.ports['sandbox']}"
        self.slack = WebClient(token=DEMO_SLACK_TOKEN, base_url=f"{self.sandbox_url}/api/")
        self.stripe = stripe.StripeClient(DEMO_STRIPE_KEY, base_addresses={"api": self.sandbox_url})

    def run(self) -> str:
        """Start it and wait until the scenario is fed; its output so far."""
        self.child.start()
        self.child.wait_for_output(SCENARIO_FED, timeout=START_TIMEOUT)
        return self.child.output()

    def alerts(self) -> list[dict[str, Any]]:
        """The top-level messages of #gtm-alerts (the alerts and the digests)."""
        channels = self.slack.conversations_list()["channels"]
        [channel] = [c["id"] for c in channels if c["name"] == "gtm-alerts"]
        return list(self.slack.conversations_history(channel=channel, limit=200)["messages"])

    def shown(self, workflow_ids: set[str]) -> set[str]:
        """The remediations among ``workflow_ids`` that a message in #gtm-alerts carries."""
        texts = [json.dumps(m.get("blocks", [])) for m in self.alerts()]
        return {w for w in workflow_ids if any(w in t or quote(w, safe="") in t for t in texts)}

    def wait_until_shown(self, workflow_ids: set[str], timeout: float = 180.0) -> None:
        """Until every one of ``workflow_ids`` has its message (alerts follow the scenario's
        webhooks and detections asynchronously); fail naming those still missing."""
        deadline = time.monotonic() + timeout
        while (missing := workflow_ids - self.shown(workflow_ids)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not missing, f"no message in #gtm-alerts for {sorted(missing)}"

    def recorded(self, **filters: str) -> list[dict[str, Any]]:
        """The calls the sandbox's services received, oldest first (see /_sandbox/requests)."""
        answer = httpx.get(f"{self.sandbox_url}/_sandbox/requests", params=filters, timeout=30)
        answer.raise_for_status()
        return list(answer.json())

    def wait_until_paid(self, invoice_id: str, timeout: float = 180.0) -> Any:
        """The invoice, once the sandbox's Stripe has it paid; fail when it is not by then."""
        deadline = time.monotonic() + timeout
        while (invoice := self.stripe.v1.invoices.retrieve(invoice_id)).status != "paid":
            assert time.monotonic() < deadline, f"{invoice_id} is still {invoice.status}"
            time.sleep(0.5)
        return invoice

    def remediation(self, workflow_id: str, output: str) -> dict[str, Any]:
        """The remediation's status from the gateway's API (the demo's API token)."""
        answer = httpx.get(
            f"http://127.0.0.1:{self.ports['gateway']}/api/remediations/{quote(workflow_id)}",
            headers={"Authorization": f"Bearer {api_token(output)}"},
            timeout=30,
        )
        answer.raise_for_status()
        return dict(answer.json())

    async def workflows_by_kind(self) -> dict[str, set[str]]:
        """Workflow ids per ``CanaryKind``, as the Temporal UI's filter finds them."""
        client = await Client.connect(f"127.0.0.1:{self.ports['temporal']}")
        found: dict[str, set[str]] = {}
        for kind in (sa.REMEDIATION, sa.DETECTOR, sa.DIGEST):
            query = f"{sa.KIND.name} = '{kind}'"
            found[kind] = {w.id async for w in client.list_workflows(query)}
        return found


def raised(output: str) -> set[str]:
    """The workflow ids the scenario printed (``… → id`` or ``… → id, id``)."""
    found: set[str] = set()
    for line in output.splitlines():
        if " → " in line:
            found.update(part.strip() for part in line.split(" → ", 1)[1].split(","))
    return found


def scenario_id(output: str, customer: str) -> str:
    """The remediation the scenario printed for ``customer``'s failed payment."""
    [line] = [line for line in output.splitlines() if line.strip().startswith(f"{customer}:")]
    return line.rsplit(" → ", 1)[1].strip()


def check_quiet_recovery(demo: Demo, output: str, plan: RetryPlan) -> None:
    """The self-serve invoice is paid by ``plan``'s second retry, each retry at or after its
    slot, and no Slack call names the customer."""
    workflow_id = scenario_id(output, SELF_SERVE["name"])
    invoice_id = workflow_id.rsplit(":", 1)[1]
    invoice = demo.wait_until_paid(invoice_id)
    # The scenario's attempt and retry 1 declined, retry 2 collected: three charges.
    assert invoice.attempt_count == 3
    pays = demo.recorded(service="stripe", method="POST", path=f"/v1/invoices/{invoice_id}/pay")
    # One entry per attempt (a call repeated under its idempotency key is the same attempt).
    attempts = {p["idempotency_key"] or p["id"]: p for p in pays}
    assert [p["status"] for p in attempts.values()] == [402, 402, 200]
    status = demo.remediation(workflow_id, output)
    assert status["outcome"] == "auto_resolved" and status["slack"] is None
    assert status["recovered_by"] == "scheduled_retry" and status["recovery_attempt"] == 2
    slots = planned_attempts(plan, datetime.fromisoformat(status["first_failed_at"]), None)
    for retry, slot in zip(list(attempts.values())[1:], slots, strict=False):
        assert datetime.fromisoformat(retry["at"]) >= slot, (retry["at"], slot)
    # Nobody was pinged: no Slack call (post, update, DM …) names the customer or its payment.
    # A Home tab may list it (views.publish): a person sees it there when they look at their
    # Home, which pings nobody.
    names = {SELF_SERVE["name"], invoice_id, str(invoice.customer), workflow_id}
    calls = [
        json.dumps(call["body"])
        for call in demo.recorded(service="slack")
        if call["path"] != "/api/views.publish"
    ]
    assert calls and not [n for n in names for call in calls if n in call]


def check_globex_plan(demo: Demo, output: str, plan: RetryPlan) -> None:
    """Globex's alert goes out at once with its recovery plan in What to do."""
    workflow_id = scenario_id(output, CUSTOMERS[0]["name"])
    posts = [
        json.dumps(call["body"])
        for call in demo.recorded(service="slack", path="/api/chat.postMessage")
        if workflow_id in json.dumps(call["body"])
    ]
    assert posts, f"no alert for {workflow_id}"
    line = re.search(r"\*Recovery plan:\* (next retry [^\"]*)", posts[0])
    assert line, posts[0]
    assert re.fullmatch(
        rf"next retry \w{{3}} \d+ \w{{3}} \d\d:\d\d UTC .*, attempt 1 of {len(plan.after)}",
        line[1],
    ), line[1]


def check_dismissal_and_home(demo: Demo, output: str, ids: set[str]) -> None:
    """Dan's dismissal of the first Zapier alert went through the sandbox's Slack as a
    person's does and the alert records it with its reason; his Home tab was published with
    the demo's remediations; the printout points at both."""
    user, _ = DEMO_PERSON
    [zap] = [
        line.rsplit(" → ", 1)[1].strip()
        for line in output.splitlines()
        if line.strip().startswith("Zapier: unrecognised error (run 1 of 3)")
    ]
    # The click and the form's submission, as Slack sent them to the gateway, accepted.
    sent = [
        r
        for r in demo.recorded(service="interactivity")
        if r["body"]["payload"]["user"]["id"] == user
    ]
    [click] = [
        r["body"]["payload"]
        for r in sent
        if [(a["action_id"], a.get("value")) for a in r["body"]["payload"].get("actions", [])]
        == [("canary:dismiss", zap)]
    ]
    [submitted] = [
        r
        for r in sent
        if r["body"]["payload"]["type"] == "view_submission"
        and zap in r["body"]["payload"]["view"]["private_metadata"]
    ]
    assert click["type"] == "block_actions" and click["channel"]["name"] == "gtm-alerts"
    picked = submitted["body"]["payload"]["view"]["state"]["values"]["reason"]["value"]
    assert picked["selected_option"]["text"]["text"] == DEMO_DISMISS_REASON
    assert submitted["status"] == 200 and submitted["response"] == ""  # the form closed
    # The alert's final text: the record of the dismissal, by whom and why.
    ts = click["container"]["message_ts"]
    updates = [
        c["body"]
        for c in demo.recorded(service="slack", path="/api/chat.update")
        if c["body"].get("ts") == ts and c["status"] == 200
    ]
    final = json.dumps(updates[-1]["blocks"], ensure_ascii=False)
    assert f"dismissed by <@{user}> on " in final and f"— {DEMO_DISMISS_REASON}" in final
    assert "What to do" not in final
    status = demo.remediation(zap, output)
    assert (status["outcome"], status["close_reason"]) == ("dismissed", DEMO_DISMISS_REASON)

    # His Home tab: app_home_opened went to the gateway, which published a Home listing the
    # demo's open remediations with their buttons (the dismissed one is no longer among them).
    [opened] = [
        r
        for r in demo.recorded(service="events")
        if r["body"]["event"]["type"] == "app_home_opened" and r["body"]["event"]["user"] == user
    ]
    assert opened["status"] == 200
    publishes = [
        c
        for c in demo.recorded(service="slack", path="/api/views.publish")
        if c["body"].get("user_id") == user and c["status"] == 200 and c["id"] > opened["id"]
    ]
    zaps = {w for w in ids if w.startswith("unknown:zap_run:")}
    expected = {scenario_id(output, c["name"]) for c in CUSTOMERS[:2]} | (zaps - {zap})

    def listed(call: dict[str, Any]) -> set[str]:
        """The remediations a published Home lists with their buttons."""
        view = call["body"]["view"]
        view = json.loads(view) if isinstance(view, str) else view
        return {
            e.get("value") for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
        }

    # The listener's publish; the worker may publish the same Home around it too.
    assert any(expected <= listed(c) and zap not in listed(c) for c in publishes), [
        (expected - listed(c), zap in listed(c)) for c in publishes
    ]
    page = httpx.get(f"{demo.sandbox_url}/home", params={"as": user, "shown": "1"}, timeout=30)
    assert "Waiting for you" in page.text and "Closed this week" in page.text

    # Where the printout sends the newcomer.
    assert f"Home tab        {demo.sandbox_url}/home" in output
    assert f"{demo.sandbox_url}/?channel=gtm-alerts&as={user}#m{ts}" in output
    assert f"{demo.sandbox_url}/home?as={user}" in output
    assert f"chose “{DEMO_DISMISS_REASON}”" in output


def api_token(output: str) -> str:
    match = re.search(r"API token\s+(\S+)", output)
    assert match, output
    return match[1]


@pytest.mark.timeout(2 * START_TIMEOUT + 300)
def test_make_demo_twice_shows_the_whole_scenario_both_times(tmp_path: Path) -> None:
    data_dir = tmp_path / ".canary"
    runs: list[tuple[str, set[str], int]] = []
    for run in (1, 2):
        demo = Demo(data_dir, tmp_path / f"up-{run}.log")
        try:
            output = demo.run()
            ids = raised(output)
            assert len(ids) >= 14, output
            # Every remediation has its message but the self-serve payment's: it is quiet.
            demo.wait_until_shown(ids - {scenario_id(output, SELF_SERVE["name"])})
            if run == 1:
                assert "in SECONDS for the demo" in output and "a real plan runs in days" in output
                # The plan the worker ran: the demo catalog's, in seconds.
                plan = load_catalog(data_dir / DEMO_CATALOG_FILE).recovery.plan_for("soft")
                assert plan.after and not plan.days and not plan.paydays
                check_globex_plan(demo, output, plan)
                check_quiet_recovery(demo, output, plan)
                check_dismissal_and_home(demo, output, ids)
                kinds = asyncio.run(demo.workflows_by_kind())
                # The Temporal UI's saved view of remediations lists exactly the scenario's;
                # the detectors' runs and the owners' digests carry their own kind.
                assert kinds[sa.REMEDIATION] == ids
                assert {w.split(":")[1] for w in kinds[sa.DETECTOR]} == DETECTORS
                assert kinds[sa.DIGEST] and all(w.startswith("digest:") for w in kinds[sa.DIGEST])
            runs.append((output, ids, len(demo.alerts())))
        finally:
            demo.child.stop()
        assert not demo.child.alive()

    (first, first_ids, first_count), (second, second_ids, second_count) = runs
    # The same scenario: every remediation raised the second time has its message, and the
    # channel holds as many as the first time (the invoices are new, so their ids differ).
    assert second_count == first_count and len(second_ids) == len(first_ids)
    assert "started empty for the scenario" in first and "previous one" not in first
    assert f"previous one is kept as {data_dir / 'temporal.previous.db'}" in second
    assert (data_dir / "temporal.previous.db").exists()

    # One API token for both runs, kept for its owner only: a saved dashboard login works.
    assert api_token(first) == api_token(second)
    stored = data_dir / API_TOKEN_FILE
    assert stored.read_text().strip() == api_token(first)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
