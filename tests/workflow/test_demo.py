"""`make demo` twice, as a new user runs it: `canary up --scenario` started, stopped and
started again in one data directory shows the whole scenario both times, and keeps its API
token.

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
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from slack_sdk import WebClient
from temporalio.client import Client

from canary import search_attributes as sa
from canary.rules.catalog import load_detectors
from starter.stack import API_TOKEN_FILE, DEMO_SLACK_TOKEN
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
        self.slack = WebClient(
            token=DEMO_SLACK_TOKEN, base_url=f"http://127.0.0.1:{self.ports['sandbox']}/api/"
        )

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
            assert len(ids) >= 13, output
            demo.wait_until_shown(ids)
            if run == 1:
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
