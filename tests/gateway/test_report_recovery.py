"""GET /api/report and GET /report show the recovery of failed payments, read from Temporal.

A dev server of this module's own holds only the remediations made here, so every number is
known. Their records and statuses are made the way the remediation workflow makes them
(RemediationState.note_payment_failure / record_recovery, then resolution_record() or
status()) and returned by a stand-in registered as RemediationWorkflow: the report reads
them from Temporal (visibility, workflow results, status queries) as it reads the real ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.worker import Worker

from canary.catalog import load_catalog
from canary.catalog.diagnosis import diagnose, plan
from canary.models import (
    Detection,
    RecoveredBy,
    RemediationState,
    RemediationStatus,
    ResolutionRecord,
)
from canary.settings import Settings
from starter.gateway.app import create_app
from tests.conftest import dev_server_with_ui

pytestmark = pytest.mark.asyncio
TOKEN = "test-api-token-recovery-0123456789ab"
HOUR = 3600.0


class StandInInput(BaseModel):
    record: ResolutionRecord | None = None
    status: RemediationStatus | None = None


@workflow.defn(name="RemediationWorkflow", sandboxed=False)
class RemediationStandIn:
    """Returns the record it is given (a finished remediation), or answers the status query
    with the status it is given until it is cancelled (an open one)."""

    def __init__(self) -> None:
        self._status: RemediationStatus | None = None

    @workflow.run
    async def run(self, given: StandInInput) -> ResolutionRecord:
        if given.record is not None:
            return given.record
        self._status = given.status
        await workflow.wait_condition(lambda: False)
        raise RuntimeError("an open remediation never ends here")

    @workflow.query
    def status(self) -> RemediationStatus | None:
        return self._status


def failed_payment(invoice: str, failed_at: datetime, amount: int) -> Detection:
    return Detection(
        id=f"evt_{invoice}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={"name": "Globex", "stripe_customer_id": "cus_globex"},
        message="Your card was declined.",
        occurred_at=failed_at,
        facts={"decline_code": "insufficient_funds", "amount_due": amount, "currency": "usd"},
    )


def remediation(
    invoice: str, failed_at: datetime, amount: int, decline_class: str
) -> tuple[RemediationState, Detection]:
    detection = failed_payment(invoice, failed_at, amount)
    state = RemediationState.begin(detection, failed_at + timedelta(seconds=5))
    catalog = load_catalog()
    state.diagnosis = diagnose(detection, plan(detection, catalog), catalog, detection.facts)
    state.state = "awaiting_human"
    state.note_payment_failure(decline_class=decline_class)
    return state, detection


@dataclass
class Recovered:
    http: httpx.AsyncClient
    since: datetime
    until: datetime

    def query(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


@pytest.fixture(scope="module")
async def recovered() -> AsyncIterator[Recovered]:
    env, _ = await dev_server_with_ui()
    queue = f"recovery-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    finished: list[tuple[RemediationState, Detection, RecoveredBy, int | None, datetime]] = []
    # Recovered by the second scheduled retry a day after the failure ($120, soft).
    state, found = remediation("in_r1", now - timedelta(days=3), 12000, "soft")
    finished.append((state, found, "scheduled_retry", 2, now - timedelta(days=2)))
    # Paid on the hosted page six hours after the failure ($80, card must change).
    state, found = remediation("in_r2", now - timedelta(days=2), 8000, "card_must_change")
    finished.append((state, found, "hosted_page", None, now - timedelta(days=2, hours=-6)))
    # Written off ($50, hard).
    state, found = remediation("in_w", now - timedelta(days=4), 5000, "hard")
    finished.append((state, found, "written_off", None, now - timedelta(days=1)))
    # Open: failed a day ago ($300, soft), and one that failed 20 days ago ($10): both at
    # risk, only the first in the window.
    still_open = [
        remediation("in_o", now - timedelta(days=1), 30000, "soft"),
        remediation("in_old", now - timedelta(days=20), 1000, "soft"),
    ]
    async with Worker(env.client, task_queue=queue, workflows=[RemediationStandIn]):
        for state, found, way, attempt, when in finished:
            state.record_recovery(when, way, attempt=attempt)
            state.close(when, "dismissed" if way == "written_off" else "auto_resolved", "x", "-")
            wid = f"payment_failed:invoice:{found.subject.id}"
            await env.client.execute_workflow(
                "RemediationWorkflow",
                StandInInput(record=state.resolution_record(wid, found)),
                id=wid,
                task_queue=queue,
                result_type=ResolutionRecord,
            )
        handles = []
        for state, found in still_open:
            wid = f"payment_failed:invoice:{found.subject.id}"
            handles.append(
                await env.client.start_workflow(
                    "RemediationWorkflow",
                    StandInInput(status=state.status(wid, found)),
                    id=wid,
                    task_queue=queue,
                )
            )
        app = create_app(Settings(task_queue=queue, api_token=TOKEN), temporal=env.client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://gateway",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as http:
            yield Recovered(http, now - timedelta(days=7), now + timedelta(hours=1))
        for handle in handles:
            await handle.terminate()
    await env.shutdown()


async def test_the_json_has_the_recovery(recovered: Recovered) -> None:
    response = await recovered.http.get("/api/report", params=recovered.query())
    assert response.status_code == 200, response.text
    recovery = response.json()["recovery"]
    # In the window: in_r1, in_r2, in_w, in_o (in_old failed before it).
    assert (recovery["invoices"], recovery["recovered"], recovery["recovery_rate"]) == (4, 2, 0.5)
    assert recovery["denominator"].startswith("4 invoices whose first payment failure fell")
    assert recovery["failed_amount"] == {"usd": 55000}
    assert recovery["recovered_amount"] == {"usd": 20000}
    assert recovery["amount_recovery_rate"] == {"usd": round(20000 / 55000, 4)}
    standings = {k: v for k, v in recovery["standings"].items() if v}
    assert standings == {"scheduled_retry": 1, "hosted_page": 1, "written_off": 1, "open": 1}
    classes = {g["key"]: (g["invoices"], g["recovered"]) for g in recovery["by_decline_class"]}
    assert classes == {"soft": (2, 1), "card_must_change": (1, 1), "hard": (1, 0)}
    assert [(w["key"], w["recovered"]) for w in recovery["by_attempt"]] == [("2", 1)]
    ways = {w["key"]: w["share_of_recoveries"] for w in recovery["by_recovered_by"]}
    assert ways == {
        "scheduled_retry": 0.5,
        "card_update_retry": 0.0,
        "hosted_page": 0.5,
        "person_retry": 0.0,
    }
    # 6 hours and 24 hours (from the first failure, not from the remediation's start).
    ttr = recovery["time_to_recover"]
    assert ttr["count"] == 2
    assert ttr["p50"] == pytest.approx(15 * HOUR)
    assert ttr["p90"] == pytest.approx(6 * HOUR + 0.9 * 18 * HOUR)
    assert (recovery["at_risk_invoices"], recovery["at_risk_amount"]) == (2, {"usd": 31000})


async def test_the_page_shows_the_recovery(recovered: Recovered) -> None:
    response = await recovered.http.get("/report", params=recovered.query())
    assert response.status_code == 200, response.text
    page = response.text
    section = page[page.index('<section id="recovery"') :]
    section = section[: section.index("</section>")]
    assert 'data-invoices="4" data-recovered="2" data-recovery-rate="0.5"' in section
    assert "Rates are over 4 invoices whose first payment failure fell in the window" in section
    assert '<div class="value" id="recovery-rate">50.0%</div>' in section
    assert '<div class="value" id="recovered-amount">$200.00</div>' in section
    assert 'id="at-risk" data-invoices="2">$310.00<' in section
    assert 'data-currency="usd" data-failed="55000" data-recovered="20000"' in section
    assert 'data-attempt="2" data-recovered="1"' in section
    bars = re.findall(
        r'data-class="([a-z_]+)" data-standing="([a-z_]+)" data-count="(\d+)"', section
    )
    assert sorted(b for b in bars if b[0] == "all") == [
        ("all", "hosted_page", "1"),
        ("all", "open", "1"),
        ("all", "scheduled_retry", "1"),
        ("all", "written_off", "1"),
    ]
