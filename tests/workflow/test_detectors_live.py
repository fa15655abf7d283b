"""Every default detector against the seeded sandboxes, on a real dev server.

Salesforce, Slack and Stripe are the sandbox (reached through the real SDKs), the warehouse
is a freshly seeded SQLite file, and e-mail goes to the SMTP sink. The assertions are on what
those recorded: tasks created in Salesforce, Slack messages, e-mails received.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from temporalio.testing import WorkflowEnvironment

from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.catalog import load_catalog
from canary.models.detectors import DetectorRunResult
from canary.rules.catalog import load_detectors
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from sandbox.salesforce import ANGRY_COMMENT, SEED_IDS
from sandbox.smtp import SmtpSink, create_mail_router
from sandbox.warehouse_seed import seed_warehouse
from starter.intake import get_status
from starter.schedules import run_detectors_once
from tests.helpers import end_if_running, eventually
from worker import build_worker

pytestmark = pytest.mark.asyncio
DETECTORS = load_detectors(sops=load_catalog())


@dataclass
class Live:
    settings: Settings
    sandbox: SandboxServer
    sink: SmtpSink
    http: httpx.AsyncClient

    async def messages(self, channel: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.sandbox.url}/_sandbox/slack/messages", params={"channel": channel}
        )
        response.raise_for_status()
        return list(response.json())

    def salesforce(self) -> SalesforceAdapter:
        return SalesforceAdapter.from_settings(self.settings)


@asynccontextmanager
async def live(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Live]:
    sandbox = SandboxServer(SandboxConfig()).start()
    sink = SmtpSink().start()
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    seed_warehouse(warehouse)
    settings = Settings(
        task_queue=f"detectors-{uuid.uuid4().hex[:8]}",
        stripe_api_key="sk_test_detectors",
        stripe_api_base=sandbox.url,
        slack_bot_token="xoxb-detectors",
        slack_api_url=f"{sandbox.url}/api/",
        salesforce_instance_url=sandbox.url,
        salesforce_access_token="00DSANDBOX!detectors",
        warehouse_url=warehouse,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_starttls=False,
        smtp_from="canary@acme-gtm.example",
    )
    try:
        async with build_worker(env.client, settings), httpx.AsyncClient(timeout=30) as http:
            yield Live(settings, sandbox, sink, http)
    finally:
        # Remediation ids are per subject: leave none running for the next test on this
        # server to fold into while its worker (and sandbox) are gone.
        query = f"TaskQueue = '{settings.task_queue}' AND ExecutionStatus = 'Running'"
        async for execution in env.client.list_workflows(query):
            # Visibility lags: one listed as running may have closed meanwhile.
            await end_if_running(env.client.get_workflow_handle(execution.id), "test finished")
        sink.stop()
        sandbox.stop()


async def test_detectors_on_seeded_data(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with live(dev_env, tmp_path) as stack:
        results = await run_detectors_once(
            dev_env.client, stack.settings, DETECTORS.detectors, flush_digests=True
        )
        by_id: dict[str, DetectorRunResult] = {r.detector_id: r for r in results}

        # -- what each detector checked and raised ---------------------------------------------
        initech, umbrella, globex, hooli = (
            SEED_IDS[k] for k in ("initech", "umbrella", "globex", "hooli")
        )
        assert by_id["onboarding-overdue"].workflow_ids == [f"onboarding_overdue:account:{initech}"]
        assert by_id["renewal-touchpoint"].workflow_ids == [
            f"renewal_touchpoint_missed:account:{umbrella}"
        ]
        assert by_id["low-adoption"].checked == 5
        assert by_id["low-adoption"].workflow_ids == [f"low_adoption:account:{initech}"]
        shift = by_id["spend-shift"]
        assert shift.checked == 5
        assert sorted(shift.workflow_ids) == sorted(
            [
                f"account_shift:account_metric:{globex}.weekly_spend",
                f"account_shift:account_metric:{hooli}.weekly_spend",
            ]
        )
        # Initech has three weeks of data (no baseline), Wayne one point: checked, not raised.
        skipped = {s.subject_id for s in shift.skipped}
        assert skipped == {initech, SEED_IDS["wayne"]}
        case = SEED_IDS["case_globex_invoice"]
        assert by_id["irate-customer"].workflow_ids == [f"irate_customer:case:{case}"]
        assert by_id["payment-failure-rate"].workflow_ids == [
            "metric_threshold:kpi:payment_failure_rate"
        ]
        assert by_id["calls-resolved-per-minute"].checked == 1
        assert by_id["calls-resolved-per-minute"].raised == 0

        # -- Salesforce: tasks for the CSM -------------------------------------------------------
        sf = stack.salesforce()
        # Salesforce cannot filter on Description (a long text area): Canary's marker is
        # looked for in what comes back.
        tasks = [
            t
            for t in sf.query("SELECT Subject, OwnerId, AccountId, Description, Type FROM Task")
            if "canary:" in (t["Description"] or "")
        ]
        subjects = {t["Subject"]: t for t in tasks}
        onboarding = subjects[
            "Onboarding overdue: book Admin training, Go-live review with Initech"
        ]
        assert onboarding["OwnerId"] == SEED_IDS["carol"]
        assert onboarding["AccountId"] == initech
        renewal = next(t for s, t in subjects.items() if s.startswith("Schedule a business review"))
        assert renewal["AccountId"] == umbrella and renewal["Type"] == "Other"
        adoption = next(t for s, t in subjects.items() if s.startswith("Low adoption at Initech"))
        assert "9" in adoption["Description"] and "60 seats" in adoption["Description"]

        # -- Slack: the critical one at once, the rest in one digest per owner ------------------
        alerts = await stack.messages("gtm-alerts")
        texts = [m.get("text", "") for m in alerts]
        irate = [m for m in alerts if "Irate customer" in m.get("text", "")]
        assert len(irate) == 1
        assert ANGRY_COMMENT in str(irate[0]["blocks"])
        digests = [m for m in alerts if str(m.get("text", "")).startswith("Daily digest")]
        assert len(digests) == 2, texts
        carol = next(d for d in digests if "<@U0CAROL>" in d["text"])
        alice = next(d for d in digests if "<@U0ALICE>" in d["text"])
        assert "Onboarding overdue: Initech" in carol["text"]
        assert "Low adoption: Initech" in carol["text"]
        assert "No business review before renewal: Umbrella" in carol["text"]
        assert "Globex Corporation: weekly spend down" in alice["text"]
        assert "Hooli: weekly spend up" in alice["text"]
        buttons = [
            e
            for b in alice["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "canary:acknowledge"
        ]
        assert {b["value"] for b in buttons} == set(shift.workflow_ids)
        # None of the digested findings posted an alert of its own.
        assert not any("weekly spend" in t and "Daily digest" not in t for t in texts)
        revops = await stack.messages("revops")
        report = [m for m in revops if "Payment failure rate" in str(m.get("blocks"))]
        assert len(report) == 1 and "7.9%" in str(report[0]["blocks"])
        # The unlinked-accounts sweep's Soylent matches no Salesforce account: RevOps is asked
        # to create one; nothing else goes to #revops.
        asks = [m for m in revops if m not in report]
        assert [m["text"] for m in asks] == [
            ":link: No Salesforce account for product account app_soylent (Soylent, "
            "soylent.example). Create one from the alert in #gtm-alerts."
        ]

        # -- e-mail: high and critical to their owners, the KPI report to its audience ----------
        mails = stack.sink.messages
        to = {tuple(m.rcpt_tos): m for m in mails}
        kpi = to[("revops@acme-gtm.example", "finance@acme-gtm.example")]
        assert kpi.subject.startswith("[Canary report] Payment failure rate")
        assert kpi.html is not None and "<svg" in kpi.html and "7.9%" in kpi.html
        alice_mail = [m for m in mails if m.rcpt_tos == ["alice@acme-gtm.example"]]
        subjects_alice = sorted(m.subject for m in alice_mail)
        assert any("[Canary critical] Irate customer" in s for s in subjects_alice)
        assert any(
            "[Canary high] Globex Corporation: weekly spend down" in s for s in subjects_alice
        )
        assert not any("Hooli" in s for s in subjects_alice)  # a rise is medium: no e-mail
        carol_mail = [m.subject for m in mails if m.rcpt_tos == ["carol@acme-gtm.example"]]
        assert carol_mail == [
            "[Canary high] No business review before renewal: Umbrella Corp renews in 25 days"
        ]
        flagged = sf.get("Case", case)
        assert flagged["IsEscalated"] is True and flagged["Priority"] == "High"
        status = await get_status(dev_env.client, f"irate_customer:case:{case}")
        assert status is not None and status.owner == "alice@acme-gtm.example"
        assert status.diagnosis is not None
        assert status.diagnosis.facts["manager_email"] == "bob@acme-gtm.example"

        # -- a second run the same day folds into the open remediations: nothing new -----------
        before_alerts, before_mail = len(alerts), len(stack.sink.messages)
        again = await run_detectors_once(
            dev_env.client, stack.settings, DETECTORS.detectors, flush_digests=True
        )
        assert sum(r.raised for r in again) == sum(r.raised for r in results)
        after = await stack.messages("gtm-alerts")
        assert len(after) == before_alerts, [m.get("text") for m in after[before_alerts:]]
        assert len(stack.sink.messages) == before_mail
        onboarding_status = await get_status(
            dev_env.client, f"onboarding_overdue:account:{initech}"
        )
        assert onboarding_status is not None and onboarding_status.occurrences == 1


async def test_a_card_expiring_before_the_renewal_makes_a_task_for_the_ae(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with live(dev_env, tmp_path) as stack:
        # Umbrella's seeded renewal is open: its Stripe customer's default card is made to run
        # out the month before the renewal closes (Stripe's card update, as a bank's new dates).
        sf = stack.salesforce()
        [renewal] = sf.query(
            "SELECT Id, CloseDate FROM Opportunity WHERE Id = {id}",
            id=SEED_IDS["opp_umbrella_renewal"],
        )
        closes = date.fromisoformat(renewal["CloseDate"])
        ends = closes.replace(day=1) - timedelta(days=1)
        client = stripe.StripeClient(
            "sk_test_detectors", base_addresses={"api": stack.sandbox.url}, max_network_retries=0
        )
        customer = "cus_SbxUmbrella0001"
        card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
        client.v1.payment_methods.update(
            card.id, params={"card": {"exp_month": ends.month, "exp_year": ends.year}}
        )
        client.v1.customers.update(
            customer, params={"invoice_settings": {"default_payment_method": card.id}}
        )
        detector = DETECTORS.get("card-expiry")
        assert detector is not None

        [result] = await run_detectors_once(
            dev_env.client, stack.settings, [detector], flush_digests=True
        )

        umbrella = SEED_IDS["umbrella"]
        assert result.workflow_ids == [f"card_expiring:account:{umbrella}"]
        # The other seeded deals' accounts have no Stripe customer or no card: skipped.
        assert umbrella not in {s.subject_id for s in result.skipped}
        assert {s.reason for s in result.skipped} <= {"no card on file", "no Stripe customer"}

        def task_for_the_ae(rows: list[dict[str, Any]]) -> bool:
            return any(str(t["Subject"]).startswith("Get a new card from Umbrella") for t in rows)

        tasks = await eventually(
            lambda: asyncio.to_thread(
                sf.query, "SELECT Subject, OwnerId, WhatId, Description, Type FROM Task"
            ),
            task_for_the_ae,
        )
        [task] = [t for t in tasks if str(t["Subject"]).startswith("Get a new card from Umbrella")]
        assert task["Subject"] == f"Get a new card from Umbrella Corp before {closes.isoformat()}"
        assert task["OwnerId"] == SEED_IDS["gina"]
        assert task["WhatId"] == SEED_IDS["opp_umbrella_renewal"]
        assert f"valid to {ends.month:02d}/{ends.year}" in task["Description"]
        # The account executive is told; the customer is not e-mailed.
        assert not [m for m in stack.sink.messages if any("umbrella" in r for r in m.rcpt_tos)]


async def test_mail_router_lists_received_messages() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from canary.adapters.email_adapter import EmailAdapter, message_id

    with SmtpSink() as sink:
        adapter = EmailAdapter("127.0.0.1", sink.port, starttls=False, sender="c@x.example")
        accepted = adapter.send(
            ["a@x.example", "b@x.example"],
            "Hello",
            "plain body",
            "<p>html body</p>",
            message_id("k1"),
        )
        assert accepted == ["a@x.example", "b@x.example"]
        app = FastAPI()
        app.include_router(create_mail_router(sink))
        with TestClient(app) as http:
            listed = http.get("/_sandbox/mail").json()
            assert len(listed) == 1
            assert listed[0]["rcpt_tos"] == ["a@x.example", "b@x.example"]
            assert listed[0]["subject"] == "Hello"
            assert listed[0]["text"].strip() == "plain body"
            assert "html body" in listed[0]["html"]
            assert listed[0]["message_id"] == message_id("k1")
            assert http.delete("/_sandbox/mail").status_code == 204
            assert http.get("/_sandbox/mail").json() == []
        # STARTTLS is required unless turned off: the sink does not offer it, so it refuses.
        strict = EmailAdapter("127.0.0.1", sink.port, starttls=True)
        from canary.adapters import PermanentError

        with pytest.raises(PermanentError, match="STARTTLS"):
            strict.send(["a@x.example"], "x", "y", None, message_id("k2"))
        assert len(sink.messages) == 0


async def test_seed_is_deterministic(tmp_path: Path) -> None:
    from sandbox.warehouse_seed import rows_for

    day = datetime(2026, 11, 18, tzinfo=UTC).date()
    assert rows_for(day) == rows_for(day)
    counts = seed_warehouse(f"sqlite:///{tmp_path / 'w.db'}", day)
    assert counts == seed_warehouse(f"sqlite:///{tmp_path / 'w.db'}", day)
    assert counts["weekly_account_metrics"] == 12 + 12 + 12 + 3 + 1


async def test_pipeline_sweeps_and_their_fixes(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The three Salesforce sweeps on the seeded org, Stripe and warehouse; then the people's
    fixes, each confirmed by reading Salesforce or Stripe back."""
    import stripe

    from canary.models.remediation import ActionRequest
    from starter.intake import take_action

    sweeps = [d for d in DETECTORS.detectors if d.kind.startswith("pipeline_")]
    assert {d.id for d in sweeps} == {"deals-past-close", "won-unpaid", "unlinked-accounts"}
    async with live(dev_env, tmp_path) as stack:
        sf = stack.salesforce()
        # A customer with no product account anywhere (no workspace shares its domain).
        tyrell = sf.create(
            "Account",
            {
                "Name": "Tyrell Corporation",
                "Website": "https://www.tyrell.example",
                "Type": "Customer - Channel",
                "OwnerId": SEED_IDS["gina"],
            },
        )
        # Gina's deal on Alice's account: the deal's owner, not the account's, gets it.
        ginas_deal = sf.create(
            "Opportunity",
            {
                "Name": "Globex — Training package",
                "AccountId": SEED_IDS["globex"],
                "StageName": "Negotiation/Review",
                "Amount": 9000,
                "CloseDate": (datetime.now(UTC).date() - timedelta(days=2)).isoformat(),
                "OwnerId": SEED_IDS["gina"],
            },
        )
        results = await run_detectors_once(dev_env.client, stack.settings, sweeps)
        by_id = {r.detector_id: r for r in results}
        globex_deal, hooli_deal, initech_deal = (
            SEED_IDS[k]
            for k in ("opp_globex_enterprise", "opp_hooli_expansion", "opp_initech_growth")
        )
        past = by_id["deals-past-close"]
        # Globex (7 days past) and Hooli (3 days past) are committed; Wayne closes in 5 days.
        assert sorted(past.workflow_ids) == sorted(
            [
                f"close_date_passed:opportunity:{globex_deal}",
                f"close_date_passed:opportunity:{hooli_deal}",
                f"close_date_passed:opportunity:{ginas_deal}",
            ]
        )
        # Raised means started: its diagnosis follows in the remediation's first task.
        ginas = await eventually(
            lambda: get_status(dev_env.client, f"close_date_passed:opportunity:{ginas_deal}"),
            lambda s: s is not None and s.diagnosis is not None,
        )
        assert ginas is not None and ginas.owner == "gina@acme-gtm.example"
        assert ginas.diagnosis is not None
        assert ginas.diagnosis.facts["manager_email"] == "bob@acme-gtm.example"
        unpaid = by_id["won-unpaid"]
        # Initech closed 20 days ago (terms 14) and Stripe has no payment; Globex's services
        # add-on closed 90 days ago, outside the 60-day lookback.
        assert unpaid.checked == 1
        assert unpaid.workflow_ids == [f"payment_missing:opportunity:{initech_deal}"]
        unlinked = by_id["unlinked-accounts"]
        assert sorted(unlinked.workflow_ids) == sorted(
            [
                "account_unlinked:app_account:app_stark",
                "account_unlinked:app_account:app_hooli_labs",
                "account_unlinked:app_account:app_soylent",
                f"app_account_missing:account:{tyrell}",
            ]
        )
        # Every product account but this week's three is carried by a Salesforce account.
        assert unlinked.checked == 8 + 1

        # Stripe was asked for Initech's invoices through the SDK (no other customer).
        listed = await stack.http.get(
            f"{stack.sandbox.url}/_sandbox/requests",
            params={"service": "stripe", "method": "GET", "path": "/v1/invoices"},
        )
        assert [r["query"].get("customer") for r in listed.json()] == ["cus_SbxInitech00001"]

        # -- payment_missing: no invoice yet; "Check Stripe again" after the payment ------------
        unpaid_id = unpaid.workflow_ids[0]
        status = await get_status(dev_env.client, unpaid_id)
        assert status is not None and status.diagnosis is not None
        assert status.diagnosis.branch == "not_invoiced"
        assert status.severity == "high"

        async def unpaid_mail() -> list[Any]:
            return [m for m in stack.sink.messages if "Closed Won, not paid" in m.subject]

        mail = await eventually(unpaid_mail, bool)
        assert [m.rcpt_tos for m in mail] == [["alice@acme-gtm.example"]]
        check = ActionRequest(action="resolve", user="dan", source="cli")
        answer = await take_action(dev_env.client, unpaid_id, check)
        assert answer.accepted
        status = await get_status(dev_env.client, unpaid_id)
        assert status is not None and status.outcome is None
        assert "Still no payment in Stripe for cus_SbxInitech00001" in status.timeline[-1].text

        client = stripe.StripeClient("sk_test_detectors", base_addresses={"api": stack.sandbox.url})
        method = client.v1.payment_methods.attach(
            "pm_card_visa", params={"customer": "cus_SbxInitech00001"}
        )
        invoice = client.v1.invoices.create(
            params={"customer": "cus_SbxInitech00001", "auto_advance": False}
        )
        assert invoice.id is not None
        client.v1.invoice_items.create(
            params={
                "customer": "cus_SbxInitech00001",
                "invoice": invoice.id,
                "amount": 500_000,
                "currency": "usd",
            }
        )
        client.v1.invoices.finalize_invoice(invoice.id)
        client.v1.invoices.pay(invoice.id, params={"payment_method": method.id})
        await take_action(dev_env.client, unpaid_id, check)
        status = await get_status(dev_env.client, unpaid_id)
        assert status is not None and status.outcome == "resolved_by_human"
        assert any(
            f"Stripe shows invoice {invoice.id} paid ($5,000.00)" in e.text for e in status.timeline
        )

        # -- close_date_passed: the button reads the opportunity back ---------------------------
        past_id = f"close_date_passed:opportunity:{globex_deal}"
        status = await get_status(dev_env.client, past_id)
        assert status is not None and status.diagnosis is not None
        assert status.diagnosis.facts["days_past_close"] == 7
        assert status.diagnosis.facts["opportunity_stage"] == "Negotiation/Review"
        assert status.owner == "alice@acme-gtm.example"
        updated = ActionRequest(action="resolve", user="alice", source="cli")
        await take_action(dev_env.client, past_id, updated)
        status = await get_status(dev_env.client, past_id)
        assert status is not None and status.outcome is None
        assert "Salesforce still shows close date" in status.timeline[-1].text
        next_month = (datetime.now(UTC).date().replace(day=1) + timedelta(days=40)).isoformat()
        sf.update("Opportunity", globex_deal, {"CloseDate": next_month})
        await take_action(dev_env.client, past_id, updated)
        status = await get_status(dev_env.client, past_id)
        assert status is not None and status.outcome == "resolved_by_human"
        assert f"The close date is now {next_month}" in status.timeline[-1].text or any(
            f"The close date is now {next_month}" in e.text for e in status.timeline
        )

        # -- account_unlinked from the sweep: Stark matches by domain, one candidate ----------
        stark = await get_status(dev_env.client, "account_unlinked:app_account:app_stark")
        assert stark is not None and stark.diagnosis is not None
        assert stark.diagnosis.branch == "one_candidate"
        assert stark.diagnosis.facts["candidate_id"] == SEED_IDS["stark"]
        tyrell_status = await get_status(dev_env.client, f"app_account_missing:account:{tyrell}")
        assert tyrell_status is not None and tyrell_status.severity == "low"
        assert tyrell_status.owner == "gina@acme-gtm.example"
