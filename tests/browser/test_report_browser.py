"""The report dashboard in a real browser: Debian's headless Chromium opens ``GET /report``
on a live gateway and the test reads what it rendered.

The stack is the real one (tests/stack.py: the sandbox's Stripe and Slack, the gateway, a
worker with the real activities) on a dev server of this module's own that also serves the
Temporal UI, so that the dashboard's links can be followed. Remediations are raised through
the front door (a declined card → signed webhook; the detection API) and closed the ways
people close them (paying the hosted invoice, chat clicks); then:

- Chromium renders the page (``--dump-dom``), signing in with HTTP Basic credentials in the
  URL (``http://canary:<CANARY_API_TOKEN>@host/report``: Chromium still honours them for a
  top-level navigation, answering the gateway's 401 challenge), and the numbers on the page
  equal those of ``canary report --json`` run as a subprocess of the real CLI;
- Chromium's network log shows the page loaded nothing but from the gateway;
- every link of the open-remediations table answers: Temporal UI pages on the UI port,
  Slack permalinks on the sandbox, leading to the very message.

Without Chromium the module is skipped, except in CI (``CI`` set), where it must run:
``make test`` installs Debian's ``chromium`` when it is missing (the ``browser`` target).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest

from canary import search_attributes as sa
from canary.reports.render import short_duration
from starter.intake import get_status
from starter.scenario import CUSTOMERS, UNKNOWN_ERROR, fail_a_payment
from tests.browser.chromium import LOCAL_HOSTS, chromium, page_requests, parse
from tests.conftest import dev_server_with_ui
from tests.helpers import eventually
from tests.stack import API_TOKEN, LiveStack, live_stack
from workflows import remediation_id

CANARY = str(Path(sys.executable).parent / "canary")


# -- the stack and its history ------------------------------------------------------------------


@dataclass
class Dashboard:
    live: LiveStack
    target: str
    ui_url: str
    since: datetime
    until: datetime
    ids: dict[str, str]

    def report_path(self, **extra: Any) -> str:
        query = {"since": self.since.isoformat(), "until": self.until.isoformat(), **extra}
        return f"/report?{urlencode(query)}"

    def signed_in_url(self, path: str) -> str:
        # HTTP Basic: any user name, the API token as password (see the gateway).
        return self.live.gateway_url.replace("http://", f"http://canary:{API_TOKEN}@") + path


def alert_for(messages: list[dict[str, Any]], workflow_id: str) -> dict[str, Any] | None:
    for message in messages:
        if workflow_id in json.dumps(message.get("blocks") or []):
            return message
    return None


@pytest.fixture(scope="module")
async def dashboard() -> AsyncIterator[Dashboard]:
    env, ui_url = await dev_server_with_ui()
    client = env.client
    started = datetime.now(UTC)
    try:
        async with live_stack(client, temporal_ui_url=ui_url) as live:
            headers = {"Authorization": f"Bearer {API_TOKEN}"}

            async def detect(body: dict[str, Any]) -> str:
                answer = await live.http.post(
                    f"{live.gateway_url}/api/detections", json=body, headers=headers
                )
                assert answer.status_code == 202, answer.text
                return str(answer.json()["workflow_id"])

            async def settled(workflow_id: str) -> None:
                await eventually(
                    lambda: get_status(client, workflow_id),
                    lambda s: s is not None and s.state == "awaiting_human" and s.slack,
                    timeout=30,
                )

            async def click(
                workflow_id: str, user: str, action_id: str, form: dict[str, Any]
            ) -> None:
                alert = await eventually(
                    lambda: live.messages("#gtm-alerts"),
                    lambda ms: alert_for(ms, workflow_id) is not None,
                )
                answer = await live.click(user, alert_for(alert, workflow_id) or {}, action_id)
                assert answer["status"] == 200, answer
                submitted = await live.submit(user, form)  # the button's form
                assert submitted["closed"], submitted

            def invoice_for(spec: dict[str, Any]) -> str:
                invoice = fail_a_payment(live.stripe, spec)
                return remediation_id("payment_failed", "invoice", invoice)

            hooli = {
                "name": "Hooli",
                "email": "ap@hooli.example",
                "card": "pm_card_chargeDeclinedExpiredCard",
                "amount": 990_000,
                "description": "Hooli — Team plan, annual",
                "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "hooli.example"},
            }
            ids = {
                # Insufficient funds: the retry is an hour away; nobody acts: open.
                "globex": await asyncio.to_thread(invoice_for, CUSTOMERS[0]),
                # Expired card: the customer pays on the hosted page: resolved externally.
                "initech": await asyncio.to_thread(invoice_for, CUSTOMERS[1]),
                # Expired card: Alice (the owner) dismisses it: dismissed.
                "hooli": await asyncio.to_thread(invoice_for, hooli),
            }
            for run in range(3):  # the same Zapier failure three times
                ids[f"zap{run}"] = await detect(
                    {**UNKNOWN_ERROR, "subject": {"kind": "zap_run", "id": f"zap-run-{run}"}}
                )
            ids["stark"] = await detect(
                {
                    "source": "product",
                    "subject": {"kind": "app_account", "id": "app_stark"},
                    "account": {"name": "Stark Industries", "domain": "stark.example"},
                    "message": "New workspace without a CRM account",
                }
            )
            for workflow_id in ids.values():
                await settled(workflow_id)

            invoice = ids["initech"].rsplit(":", 1)[1]
            paid = await live.http.post(
                f"{live.sandbox.url}/hosted/invoices/{invoice}/pay",
                data={"payment_method": "pm_card_visa"},
            )
            assert paid.status_code in (200, 303), paid.text
            await click(
                ids["hooli"], "U0ALICE", "canary:dismiss", {"reason_text": "Customer churned"}
            )
            # Nobody owns a Zapier failure: Dan (RevOps, the unknown SOP's group) resolves it.
            await click(ids["zap0"], "U0DAN", "canary:resolve", {})

            closed = {"initech": "resolved_externally", "hooli": "dismissed",
                      "zap0": "resolved_by_human"}  # fmt: skip
            for key, outcome in closed.items():
                status = await eventually(
                    lambda key=key: get_status(client, ids[key]),  # type: ignore[misc]
                    lambda s: s is not None and s.outcome is not None,
                    timeout=30,
                )
                assert status.outcome == outcome
            # Visibility lags the workflows: wait until listings agree with what was done.
            await eventually(
                lambda: client.count_workflows(
                    "WorkflowType = 'RemediationWorkflow' AND ExecutionStatus = 'Completed'"
                ),
                lambda c: c.count == len(closed),
            )
            await eventually(
                lambda: client.count_workflows(f"{sa.STATE.name} = 'awaiting_human'"),
                lambda c: c.count == len(ids) - len(closed),
            )
            # One fixed window for the page and the CLI, so that both compute the same report
            # (open remediations' ages run to its end, ten minutes from now).
            yield Dashboard(
                live=live,
                target=client.service_client.config.target_host,
                ui_url=ui_url,
                since=started - timedelta(minutes=5),
                until=datetime.now(UTC) + timedelta(minutes=10),
                ids=ids,
            )
    finally:
        await env.shutdown()


# -- running the real CLI and the real browser ---------------------------------------------------


async def canary_report_json(dashboard: Dashboard, tmp_path: Path) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CANARY_", "OTEL_", "STRIPE_", "SLACK_", "SALESFORCE_"))
    }
    env.update(
        TEMPORAL_ADDRESS=dashboard.target,
        TEMPORAL_NAMESPACE="default",
        CANARY_TEMPORAL_UI_URL=dashboard.ui_url,
        CANARY_LOG_FORMAT="text",
    )
    # In a thread: the worker and the gateway share this event loop and must keep answering.
    # In tmp_path: no .env file of the working tree is read.
    done = await asyncio.to_thread(
        subprocess.run,
        [
            CANARY,
            "report",
            "--json",
            "--since",
            dashboard.since.isoformat(),
            "--until",
            dashboard.until.isoformat(),
        ],  # fmt: skip
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


# -- the tests ---------------------------------------------------------------------------------


async def test_the_page_shows_the_numbers_of_canary_report_json(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    expected = await canary_report_json(dashboard, tmp_path)
    net_log = tmp_path / "net-log.json"
    rendered = await chromium(
        tmp_path,
        dashboard.signed_in_url(dashboard.report_path()),
        f"--log-net-log={net_log}",
        "--dump-dom",
    )
    dom = parse(rendered.stdout)

    # It rendered: the title, the header, the three server-drawn charts, a self-refresh.
    assert dom.one("head").one("title").text().startswith("Canary report · ")
    assert "what still needs fixing" in dom.one("h1").text()
    for chart in ("frequency-chart", "mttr-chart", "time-chart"):
        assert dom.one("svg", id=chart).all("rect"), f"{chart} has no bars"
    [refresh] = [m for m in dom.all("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh.attrs["content"] == "60"
    assert dom.all("script") == []

    # The totals.
    totals = expected["totals"]
    assert totals["open_now"] == 4 and totals["closed"] == 3 and totals["opened"] == 7
    for card, key in (("open-now", "open_now"), ("opened", "opened"), ("closed", "closed")):
        node = dom.one(id=card)
        assert int(node.attrs["data-value"]) == totals[key] and node.text() == str(totals[key])

    # The open remediations: counts per type, severity, level and owner; the rows in order.
    opened = expected["open"]
    counts = {
        dl.one("dt").text(): dict(dd.text().rsplit(": ", 1) for dd in dl.all("dd"))
        for dl in dom.one("section", id="open").all("dl")
    }
    for title, key in (("by type", "by_type"), ("by severity", "by_severity"),
                       ("by escalation level", "by_escalation_level"),
                       ("by owner", "by_owner")):  # fmt: skip
        assert {k: int(v) for k, v in counts[title].items()} == opened[key], title
    assert opened["by_type"] == {"payment_failed": 1, "unknown": 2, "account_unlinked": 1}
    rows = dom.all("tr", cls="open-row")
    assert [r.attrs["data-workflow-id"] for r in rows] == [
        o["workflow_id"] for o in opened["items"]
    ]
    assert [r.attrs["data-run-id"] for r in rows] == [o["run_id"] for o in opened["items"]]

    # Per type: counts and MTTR p50 / p90, as numbers (data-*) and as people read them.
    by_type = {s["error_type"]: s for s in expected["by_type"]}
    type_rows = {r.attrs["data-type"]: r for r in dom.all("tr", cls="type-row")}
    assert set(type_rows) == set(by_type)
    for error_type, stats in by_type.items():
        row = type_rows[error_type]
        cells = [td.text() for td in row.all("td")]
        assert cells[0] == error_type
        assert [int(c) for c in cells[1:5]] == [
            stats["opened"], stats["occurrences"], stats["closed"], stats["open_now"]
        ]  # fmt: skip
        for which in ("mtta", "mttr"):
            assert int(row.attrs[f"data-{which}-count"]) == stats[which]["count"]
            for p in ("p50", "p90"):
                value = stats[which][p]
                shown = row.attrs[f"data-{which}-{p}"]
                assert (float(shown) if shown else None) == value, (error_type, which, p)
        assert cells[7:9] == [short_duration(stats["mttr"]["p50"]),
                              short_duration(stats["mttr"]["p90"])]  # fmt: skip
    assert by_type["payment_failed"]["mttr"]["count"] == 2
    assert by_type["unknown"]["mttr"]["count"] == 1

    # The MTTR chart: one labelled bar pair per type that resolved something.
    labels = [t.text() for t in dom.one("svg", id="mttr-chart").all("text")]
    for error_type, stats in by_type.items():
        if stats["mttr"]["count"]:
            p50, p90 = (short_duration(stats["mttr"][p]) for p in ("p50", "p90"))
            assert error_type in labels and f"p50 {p50} · p90 {p90}" in labels
    # The frequency chart: its bars add up to what started, per day and type.
    bars: dict[tuple[str, str], int] = {}
    for rect in dom.one("svg", id="frequency-chart").all("rect"):
        key = (rect.attrs["data-day"], rect.attrs["data-type"])
        bars[key] = bars.get(key, 0) + int(rect.attrs["data-count"])
    assert bars == {
        (day["day"], error_type): n
        for day in expected["frequency"]
        for error_type, n in day["by_type"].items()
    }

    # How they ended: counts and shares.
    outcome_rows = {r.attrs["data-outcome"]: r for r in dom.all("tr", cls="outcome-row")}
    assert {k: int(r.attrs["data-count"]) for k, r in outcome_rows.items()} == {
        o["outcome"]: o["count"] for o in expected["outcomes"]
    }
    for outcome in expected["outcomes"]:
        row = outcome_rows[outcome["outcome"]]
        assert float(row.attrs["data-share"]) == outcome["share"]
        assert row.all("td")[2].text() == f"{outcome['share'] * 100:.1f}%"
    shares = {o["outcome"]: o["share"] for o in expected["outcomes"]}
    assert shares["resolved_externally"] == shares["dismissed"] == round(1 / 3, 4)

    # Failed payments: the three invoices, each once (Globex's still open, so at risk), as
    # canary report --json counts them; the chart's bars add up to them.
    recovery = expected["recovery"]
    assert recovery["invoices"] == 3 and recovery["at_risk_invoices"] == 1
    assert recovery["failed_amount"] == {"usd": 4_800_000 + 125_000 + 990_000}
    assert recovery["at_risk_amount"] == {"usd": CUSTOMERS[0]["amount"]}
    section = dom.one("section", id="recovery")
    assert int(section.attrs["data-invoices"]) == recovery["invoices"]
    assert int(section.attrs["data-recovered"]) == recovery["recovered"]
    assert recovery["denominator"] in section.one(id="recovery-denominator").text()
    amounts = {
        row.attrs["data-currency"]: [int(row.attrs[f"data-{k}"]) for k in ("failed", "at-risk")]
        for row in dom.all("tr", cls="recovery-amount-row")
    }
    assert amounts == {"usd": [recovery["failed_amount"]["usd"], recovery["at_risk_amount"]["usd"]]}
    standing_bars: dict[str, int] = {}
    for rect in dom.one("svg", id="recovery-chart").all("rect"):
        if rect.attrs["data-class"] == "all" or len(recovery["by_decline_class"]) == 1:
            standing = rect.attrs["data-standing"]
            standing_bars[standing] = standing_bars.get(standing, 0) + int(rect.attrs["data-count"])
    assert standing_bars == {k: v for k, v in recovery["standings"].items() if v}

    # Nothing from outside: no asset in the document points elsewhere...
    for node in dom.walk():
        for attr in ("src", "href", "data", "srcset", "poster"):
            url = node.attrs.get(attr)
            if url is None or node.tag == "a":
                continue
            host = urlsplit(url).hostname
            assert host is None or host in LOCAL_HOSTS, f"<{node.tag} {attr}={url}>"
    style = " ".join(s.text() for s in dom.all("style"))
    assert "@import" not in style and "url(" not in style
    # ... and Chromium fetched nothing for the page but from the gateway.
    fetched = page_requests(net_log)
    gateway = urlsplit(dashboard.live.gateway_url).netloc
    assert all(urlsplit(url).netloc.rsplit("@", 1)[-1] == gateway for _, url in fetched), fetched
    # Nothing at all but the page itself (not even /favicon.ico: the page names its icon).
    assert [(kind, urlsplit(url).path) for kind, url in fetched] == [("main frame", "/report")]


async def test_every_link_of_the_open_table_resolves(dashboard: Dashboard, tmp_path: Path) -> None:
    rendered = await chromium(
        tmp_path, dashboard.signed_in_url(dashboard.report_path()), "--dump-dom"
    )
    dom = parse(rendered.stdout)
    rows = dom.all("tr", cls="open-row")
    assert len(rows) == 4
    http = dashboard.live.http
    ui = urlsplit(dashboard.ui_url)
    sandbox = urlsplit(dashboard.live.sandbox.url)
    for row in rows:
        workflow_id, run_id = row.attrs["data-workflow-id"], row.attrs["data-run-id"]
        temporal = row.one("a", cls="temporal-link").attrs["href"]
        assert urlsplit(temporal).netloc == ui.netloc
        assert urlsplit(temporal).path == (
            f"/namespaces/default/workflows/{quote(workflow_id, safe='')}/{run_id}/history"
        )
        page = await http.get(temporal)
        assert page.status_code == 200 and "<html" in page.text.lower(), temporal
        # The UI's own API answers for that run: the link names a real workflow.
        described = await http.get(
            f"{dashboard.ui_url}/api/v1/namespaces/default/workflows/{quote(workflow_id, safe='')}",
            params={"execution.runId": run_id},
        )
        assert described.status_code == 200, described.text
        execution = described.json()["workflowExecutionInfo"]["execution"]
        assert (execution["workflowId"], execution["runId"]) == (workflow_id, run_id)

        slack = row.one("a", cls="slack-link").attrs["href"]
        assert urlsplit(slack).netloc == sandbox.netloc and "/archives/" in slack
        opened = await http.get(slack, follow_redirects=True)
        assert opened.status_code == 200, slack
        # The permalink lands on the channel, at the message that carries this remediation.
        ts = urlsplit(str(opened.url)).fragment.removeprefix("m")
        assert f'id="m{ts}"' in opened.text
        status = await get_status(dashboard.live.client, workflow_id)
        assert status is not None and status.slack is not None and status.slack.ts == ts
        assert parse_qs(urlsplit(str(opened.url)).query)["channel"] == ["gtm-alerts"]

    # The header's links too: the JSON behind the page and the Temporal UI's list.
    json_link = dom.one("a", id="json-link").attrs["href"]
    answer = await http.get(
        f"{dashboard.live.gateway_url}{json_link}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert answer.status_code == 200 and answer.json()["totals"]["open_now"] == 4
    assert parse_qs(urlsplit(json_link).query)["until"] == [dashboard.until.isoformat()]
    listing = dom.one("a", id="temporal-list-link").attrs["href"]
    assert urlsplit(listing).netloc == ui.netloc and "ExecutionStatus" in unquote(listing)
    assert (await http.get(listing)).status_code == 200


async def test_screenshot_and_sign_in(dashboard: Dashboard, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    await chromium(
        tmp_path,
        dashboard.signed_in_url(dashboard.report_path(refresh=30)),
        f"--screenshot={shot}",
        os.environ.get("CANARY_BROWSER_WINDOW", "--window-size=1280,2000"),
    )
    png = shot.read_bytes()
    keep = os.environ.get("CANARY_BROWSER_ARTIFACTS")  # e.g. for CI to publish
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 2000)
    assert len(png) > 20_000, "a blank page compresses to almost nothing"

    # The refresh asked for is the one the page carries.
    again = parse(
        (
            await chromium(
                tmp_path, dashboard.signed_in_url(dashboard.report_path(refresh=30)), "--dump-dom"
            )
        ).stdout
    )
    [refresh] = [m for m in again.all("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh.attrs["content"] == "30"

    # Without the token, or with a wrong one, the gateway challenges (a person's browser asks
    # for the password) and headless Chromium, which cannot ask, shows nothing of the report.
    plain = f"{dashboard.live.gateway_url}{dashboard.report_path()}"
    challenged = await dashboard.live.http.get(plain)
    assert challenged.status_code == 401
    assert challenged.headers["www-authenticate"].startswith('Basic realm="Canary"')
    for url in (
        plain,
        dashboard.signed_in_url(dashboard.report_path()).replace(API_TOKEN, "wrong-token"),
    ):
        # Depending on whether its (unanswerable) password prompt wins, headless Chromium
        # dumps the 401 page or nothing at all; never the report.
        refused = (await chromium(tmp_path, url, "--dump-dom")).stdout
        assert "Globex" not in refused and "open-row" not in refused and "<svg" not in refused
