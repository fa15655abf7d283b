"""The report's recovery section on hand-made payment remediations: every number is worked
out here by hand, in the comments beside the facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canary.models import (
    Detection,
    RemediationState,
    RemediationStatus,
    ResolutionRecord,
    TimelineEntry,
)
from canary.reports import (
    RemediationFacts,
    ReportRequest,
    compute_report,
    render_html,
    render_text,
)
from canary.reports.models import Report
from tests.unit.test_state import diagnosed

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 1, 8, tzinfo=UTC)
DAY = 86400.0


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def _closed_at(recovery: dict[str, Any], started: datetime) -> datetime:
    return recovery.get("recovered_at") or started + timedelta(hours=1)


def payment_record(
    wid: str, invoice: str, started: datetime, outcome: str, **recovery: Any
) -> RemediationFacts:
    """A finished payment remediation (the workflow's result) with the recovery it records."""
    closed = _closed_at(recovery, started)
    record = ResolutionRecord(
        workflow_id=wid,
        error_type="payment_failed",
        state="dismissed" if outcome == "dismissed" else "resolved",
        outcome=outcome,  # type: ignore[arg-type]
        subject={"kind": "invoice", "id": invoice},  # type: ignore[arg-type]
        account={"name": "Acme"},  # type: ignore[arg-type]
        severity="high",
        started_at=started,
        closed_at=closed,
        time_to_resolution=closed - started,
        attempts=0,
        occurrences=1,
        highest_escalation_level=0,
        timeline=[TimelineEntry(at=closed, kind="closed", text="closed")],
        **recovery,
    )
    return RemediationFacts(
        workflow_id=wid,
        run_id=f"run-{wid}",
        execution="completed",
        execution_status="COMPLETED",
        start_time=started,
        close_time=closed,
        error_type="payment_failed",
        record=record,
    )


def payment_status(
    wid: str, invoice: str, started: datetime, outcome: str | None = None, **recovery: Any
) -> RemediationFacts:
    """A running payment remediation: open, or closed and cooling down (``outcome``)."""
    timeline = [TimelineEntry(at=started, kind="detected", text="detected")]
    if outcome:
        timeline.append(
            TimelineEntry(at=_closed_at(recovery, started), kind="closed", text="closed")
        )
    status = RemediationStatus.model_validate(
        {
            "workflow_id": wid,
            "error_type": "payment_failed",
            "state": "resolved" if outcome else "awaiting_human",
            "outcome": outcome,
            "subject": {"kind": "invoice", "id": invoice},
            "subject_id": invoice,
            "account": {"name": "Acme"},
            "started_at": started,
            "updated_at": started,
            "timeline": timeline,
            **recovery,
        }
    )
    return RemediationFacts(
        workflow_id=wid,
        run_id=f"run-{wid}",
        execution="running",
        execution_status="RUNNING",
        start_time=started,
        error_type="payment_failed",
        status=status,
    )


def report_of(facts: list[RemediationFacts]) -> Report:
    return compute_report(
        ReportRequest(since=SINCE, until=UNTIL),
        facts,
        namespace="default",
        temporal_ui_url="http://temporal.example:8233",
        generated_at=UNTIL,
    )


@pytest.fixture()
def payments() -> list[RemediationFacts]:
    def failed(amount: int, decline_class: str | None, first: datetime, currency: str = "usd"):
        return {
            "failed_amount": amount,
            "currency": currency,
            "decline_class": decline_class,
            "first_failed_at": first,
        }

    return [
        # A: soft, $100, the first scheduled retry paid it a day later.
        payment_record(
            "a",
            "in_a",
            at(1, 10),
            "auto_resolved",
            **failed(10000, "soft", at(1, 10)),
            recovered_by="scheduled_retry",
            recovery_attempt=1,
            recovered_amount=10000,
            recovered_at=at(2, 10),
        ),
        # B: soft, $200, the third retry, three days later.
        payment_record(
            "b",
            "in_b",
            at(2),
            "auto_resolved",
            **failed(20000, "soft", at(2)),
            recovered_by="scheduled_retry",
            recovery_attempt=3,
            recovered_amount=20000,
            recovered_at=at(5),
        ),
        # C: card must change, $50, retried after the card update 12 hours later; still
        # cooling down, so read from its status.
        payment_status(
            "c",
            "in_c",
            at(3),
            "auto_resolved",
            **failed(5000, "card_must_change", at(3)),
            recovered_by="card_update_retry",
            recovered_amount=5000,
            recovered_at=at(3, 12),
        ),
        # D: card must change, €70, paid on the hosted page a day later.
        payment_record(
            "d",
            "in_d",
            at(3, 6),
            "resolved_externally",
            **failed(7000, "card_must_change", at(3, 6), "eur"),
            recovered_by="hosted_page",
            recovered_amount=7000,
            recovered_at=at(4, 6),
        ),
        # E: hard, $300, written off.
        payment_record(
            "e",
            "in_e",
            at(4),
            "dismissed",
            **failed(30000, "hard", at(4)),
            recovered_by="written_off",
            recovered_amount=0,
            recovered_at=at(4, 2),
        ),
        # F: soft, $400, still being recovered: open, and at risk.
        payment_status("f", "in_f", at(5), **failed(40000, "soft", at(5))),
        # G: soft, $80, first failed on the 2nd and dismissed; failed again, a second
        # remediation, and a person's retry collected it on the 7th: one invoice, first
        # failure the 2nd, recovered five days later.
        payment_record("g1", "in_g", at(2), "dismissed", **failed(8000, "soft", at(2))),
        payment_record(
            "g2",
            "in_g",
            at(6),
            "resolved_by_human",
            **failed(8000, "soft", at(6)),
            recovered_by="person_retry",
            recovered_amount=8000,
            recovered_at=at(7),
        ),
        # H: first failed before the window and still open: not in the window's rates,
        # but at risk.
        payment_status(
            "h", "in_h", at(1), **failed(99999, "soft", datetime(2025, 12, 30, tzinfo=UTC))
        ),
        # I: a record made before Canary said what recovered a payment: resolved, nothing
        # more known. It counts (its start is its first failure) and is unattributed.
        payment_record("i", "in_i", at(6, 12), "resolved_externally"),
    ]


def test_the_recovery_numbers(payments: list[RemediationFacts]) -> None:
    recovery = report_of(payments).recovery
    # The window's invoices: A B C D E F G I (H failed first before it), G once.
    assert recovery.invoices == 8
    assert recovery.recovered == 5  # A B C D G
    assert recovery.recovery_rate == 0.625
    assert recovery.denominator.startswith("8 invoices whose first payment failure fell")
    assert recovery.standings == {
        "scheduled_retry": 2,
        "card_update_retry": 1,
        "hosted_page": 1,
        "person_retry": 1,
        "open": 1,
        "written_off": 1,
        "not_recovered": 0,
        "unattributed": 1,
    }
    # Failed: 100 + 200 + 50 + 300 + 400 + 80 dollars, 70 euros; I's amount is not known.
    assert recovery.failed_amount == {"eur": 7000, "usd": 113000}
    assert recovery.recovered_amount == {"eur": 7000, "usd": 43000}
    assert recovery.amount_recovery_rate == {"eur": 1.0, "usd": round(43000 / 113000, 4)}
    assert recovery.without_amount == 1

    classes = {g.key: g for g in recovery.by_decline_class}
    assert list(classes) == ["soft", "card_must_change", "hard", "unclassified"]
    soft = classes["soft"]  # A B F G
    assert (soft.invoices, soft.recovered, soft.recovery_rate) == (4, 3, 0.75)
    assert (soft.failed_amount, soft.recovered_amount) == ({"usd": 78000}, {"usd": 38000})
    assert soft.standings["open"] == 1
    card = classes["card_must_change"]  # C D
    assert (card.invoices, card.recovered, card.recovery_rate) == (2, 2, 1.0)
    assert card.failed_amount == {"eur": 7000, "usd": 5000}
    hard = classes["hard"]
    assert (hard.invoices, hard.recovered, hard.standings["written_off"]) == (1, 0, 1)
    assert classes["unclassified"].standings["unattributed"] == 1

    ways = {w.key: w for w in recovery.by_recovered_by}
    assert list(ways) == ["scheduled_retry", "card_update_retry", "hosted_page", "person_retry"]
    assert (ways["scheduled_retry"].recovered, ways["scheduled_retry"].share_of_recoveries) == (
        2,
        0.4,
    )
    assert ways["scheduled_retry"].share_of_failures == 0.25  # 2 of 8
    assert ways["scheduled_retry"].recovered_amount == {"usd": 30000}
    assert ways["hosted_page"].recovered_amount == {"eur": 7000}
    assert (ways["person_retry"].recovered, ways["person_retry"].share_of_failures) == (1, 0.125)
    assert [(w.key, w.recovered) for w in recovery.by_attempt] == [("1", 1), ("3", 1)]

    # Seconds to recover: C 0.5 d, A 1 d, D 1 d, B 3 d, G 5 d (from its first failure).
    ttr = recovery.time_to_recover
    assert (ttr.count, ttr.p50) == (5, 1 * DAY)
    assert ttr.p90 == 3 * DAY + 0.6 * (5 * DAY - 3 * DAY)  # between the 4th and the 5th

    # At risk now: F and H, whatever the window.
    assert (recovery.at_risk_invoices, recovery.at_risk_amount) == (2, {"usd": 139999})


def test_no_payments_no_rates() -> None:
    recovery = report_of([]).recovery
    assert (recovery.invoices, recovery.recovered, recovery.recovery_rate) == (0, 0, None)
    assert recovery.by_decline_class == [] and recovery.by_attempt == []
    assert [w.recovered for w in recovery.by_recovered_by] == [0, 0, 0, 0]
    assert recovery.time_to_recover.count == 0 and recovery.at_risk_amount == {}


def detection(invoice: str, occurred: datetime, amount: int) -> Detection:
    return Detection(
        id=f"evt_{invoice}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={"name": "Globex"},
        message="Your card was declined.",
        occurred_at=occurred,
        facts={"decline_code": "insufficient_funds", "amount_due": amount, "currency": "usd"},
    )


def test_records_made_the_way_the_workflow_makes_them() -> None:
    """RemediationState.note_payment_failure / record_recovery, then resolution_record(): the
    records a remediation leaves, read by the report."""
    facts = []
    # Recovered by the 2nd scheduled retry, 2 days after the failure; the amount and the
    # currency come from Stripe's facts, the failure time from the report.
    paid = detection("in_r", at(2), 25000)
    state = RemediationState.begin(paid, at(2, 1))
    state.diagnosis = diagnosed(paid)
    state.note_payment_failure(decline_class="soft")
    state.record_recovery(at(4), "scheduled_retry", attempt=2)
    state.close(at(4), "auto_resolved", "canary", "The retry paid it")
    facts.append(_finished(state, "wf-r", paid))
    # Written off after a week's tries ... still in the window.
    lost = detection("in_w", at(3), 12000)
    state = RemediationState.begin(lost, at(3))
    state.diagnosis = diagnosed(lost)
    state.note_payment_failure(decline_class="hard", failed_at=at(3))
    state.record_recovery(at(6), "written_off")
    state.close(at(6), "dismissed", "U0FIN", "Written off")
    facts.append(_finished(state, "wf-w", lost))

    recovery = report_of(facts).recovery
    assert (recovery.invoices, recovery.recovered, recovery.recovery_rate) == (2, 1, 0.5)
    assert recovery.failed_amount == {"usd": 37000}
    assert recovery.recovered_amount == {"usd": 25000}
    assert [(w.key, w.recovered) for w in recovery.by_attempt] == [("2", 1)]
    assert recovery.time_to_recover.p50 == 2 * DAY
    assert recovery.standings["written_off"] == 1
    assert {g.key: g.recovered for g in recovery.by_decline_class} == {"soft": 1, "hard": 0}


def _finished(state: RemediationState, wid: str, found: Detection) -> RemediationFacts:
    record = state.resolution_record(wid, found)
    return RemediationFacts(
        workflow_id=wid,
        run_id=f"run-{wid}",
        execution="completed",
        execution_status="COMPLETED",
        start_time=record.started_at,
        close_time=record.closed_at,
        error_type="payment_failed",
        record=record,
    )


def test_the_terminal_table_shows_the_recovery(payments: list[RemediationFacts]) -> None:
    text = render_text(report_of(payments))
    section = text[text.index("RECOVERY") :]
    assert "5 of 8 invoices recovered (62.5%)" in section
    assert "$430.00 of $1,130.00 (38.1%)" in section
    assert "€70.00 of €70.00 (100.0%)" in section
    assert "at risk now: 2 invoices, $1,399.99" in section


def test_the_page_shows_the_recovery(payments: list[RemediationFacts]) -> None:
    page = render_html(report_of(payments))
    section = page[page.index('<section id="recovery"') :]
    section = section[: section.index("</section>")]
    assert 'data-invoices="8" data-recovered="5" data-recovery-rate="0.625"' in section
    assert "Rates are over 8 invoices whose first payment failure fell in the window" in section
    assert '<div class="value" id="recovery-rate">62.5%</div>' in section
    assert 'id="at-risk" data-invoices="2">$1,399.99<' in section
    assert (
        'data-currency="usd" data-failed="113000" data-recovered="43000" data-at-risk="139999"'
        in section
    )
    assert (
        'data-class="soft" data-invoices="4" data-recovered="3" data-recovery-rate="0.75"'
        in section
    )
    assert 'data-way="scheduled_retry" data-recovered="2"' in section
    assert 'data-attempt="3" data-recovered="1"' in section
    assert f'data-p50="{DAY}" data-p90="{3 * DAY + 0.6 * 2 * DAY}"' in section
    # The chart: each class's bar in segments by standing, counts adding up to its invoices.
    chart = section[section.index('id="recovery-chart"') :]
    bars = re.findall(r'data-class="([a-z_]+)" data-standing="([a-z_]+)" data-count="(\d+)"', chart)
    per_class: dict[str, int] = {}
    for name, _, count in bars:
        per_class[name] = per_class.get(name, 0) + int(count)
    assert per_class == {"soft": 4, "card_must_change": 2, "hard": 1, "unclassified": 1, "all": 8}
    assert ("all", "scheduled_retry", "2") in bars and ("hard", "written_off", "1") in bars


def test_an_empty_window_says_so_on_the_page() -> None:
    page = render_html(report_of([]))
    assert "No payment failed in this window" in page
    assert '<div class="value" id="recovery-rate">–</div>' in page
