"""Report arithmetic on hand-made timelines: every number is worked out here by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from canary.models import (
    AccountRef,
    RemediationStatus,
    ResolutionRecord,
    SlackRef,
    Subject,
    TimelineEntry,
)
from canary.reports import (
    RemediationFacts,
    ReportRequest,
    compute_report,
    parse_moment,
    percentile,
    render_html,
    render_text,
)

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 1, 8, tzinfo=UTC)
UI = "http://temporal.example:8233"


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def timeline(start: datetime, *entries: tuple[float, str, dict[str, Any]]) -> list[TimelineEntry]:
    return [
        TimelineEntry(at=start + timedelta(seconds=offset), kind=kind, text=kind, data=data)
        for offset, kind, data in entries
    ]


def detected(message: str = "boom", source: str = "stripe") -> tuple[float, str, dict[str, Any]]:
    return (0, "detected", {"detection": {"source": source, "message": message}})


def record(
    wid: str,
    error_type: str,
    account: str | None,
    start: datetime,
    outcome: str,
    entries: list[TimelineEntry],
    first_human: float | None = None,
    escalation: int = 0,
) -> RemediationFacts:
    closed = next(e.at for e in entries if e.kind == "closed")
    rec = ResolutionRecord(
        workflow_id=wid,
        error_type=error_type,
        state="resolved",
        outcome=outcome,  # type: ignore[arg-type]
        subject=Subject(kind="invoice", id=wid),
        account=AccountRef(crm_id=account, name=account and f"Account {account}"),
        severity="high",
        started_at=start,
        first_human_action_at=start + timedelta(seconds=first_human) if first_human else None,
        closed_at=closed,
        time_to_first_human_action=timedelta(seconds=first_human) if first_human else None,
        time_to_resolution=closed - start,
        attempts=0,
        occurrences=1,
        highest_escalation_level=escalation,
        timeline=entries,
    )
    return RemediationFacts(
        workflow_id=wid,
        run_id=f"run-{wid}",
        execution="completed",
        execution_status="COMPLETED",
        start_time=start,
        close_time=closed,
        error_type=error_type,
        record=rec,
    )


def running(
    wid: str,
    error_type: str,
    account: str | None,
    start: datetime,
    entries: list[TimelineEntry],
    occurrences: int = 1,
    signature: str | None = None,
    outcome: str | None = None,
    level: int = 0,
    permalink: str | None = None,
) -> RemediationFacts:
    status = RemediationStatus.model_validate(
        {
            "workflow_id": wid,
            "error_type": error_type,
            "state": "dismissed" if outcome else ("escalated" if level else "awaiting_human"),
            "outcome": outcome,
            "escalation_level": level,
            "severity": "medium",
            "subject": {"kind": "thing", "id": wid},
            "subject_id": wid,
            "account": {"crm_id": account, "name": account and f"Account {account}"},
            "owner": "alice@example.com",
            "headline": f"headline {wid}",
            "occurrences": occurrences,
            "started_at": start,
            "updated_at": start,
            "slack": SlackRef(channel="C1", ts="1.2", permalink=permalink) if permalink else None,
            "timeline": entries,
            "diagnosis": None,
        }
    )
    return RemediationFacts(
        workflow_id=wid,
        run_id=f"run-{wid}",
        execution="running",
        execution_status="RUNNING",
        start_time=start,
        error_type=error_type,
        signature=signature,
        status=status,
    )


@pytest.fixture()
def facts() -> list[RemediationFacts]:
    r1_start, r2_start, r3_start, r4_start = at(1, 10), at(1, 10, 20), at(1, 12), at(2, 9)
    return [
        # Asked at 15 s, a person retried after 30 minutes: 1815 s to act, 1825 s to resolve.
        record(
            "pf-1",
            "payment_failed",
            "A",
            r1_start,
            "resolved_by_human",
            timeline(
                r1_start,
                detected(),
                (10, "diagnosed", {}),
                (10, "step_started", {"step": "payer-link"}),
                (12, "step_succeeded", {"step": "payer-link"}),
                (15, "notified", {}),
                (1815, "human_action", {"action": "retry"}),
                (1815, "step_started", {"step": "manual-retry"}),
                (1825, "step_succeeded", {"step": "manual-retry"}),
                (1825, "closed", {"outcome": "resolved_by_human"}),
            ),
            first_human=1815,
        ),
        # Nobody acted: escalated after 4 h, expired after 2 days.
        record(
            "pf-2",
            "payment_failed",
            "A",
            r2_start,
            "expired",
            timeline(
                r2_start,
                detected(),
                (5, "diagnosed", {}),
                (5, "notified", {}),
                (14400, "escalated", {"level": 1}),
                (172800, "closed", {"outcome": "expired"}),
            ),
            escalation=1,
        ),
        record(
            "sm-1",
            "stage_mismatch",
            "A",
            r3_start,
            "auto_resolved",
            timeline(r3_start, detected(), (60, "diagnosed", {}), (60, "closed", {})),
        ),
        record(
            "pf-3",
            "payment_failed",
            "B",
            r4_start,
            "resolved_externally",
            timeline(
                r4_start,
                detected(),
                (2, "diagnosed", {}),
                (2, "notified", {}),
                (3600, "closed", {}),
            ),
        ),
        # Closed before the window: neither opened nor closed in it.
        record(
            "pf-old",
            "payment_failed",
            "A",
            at(1) - timedelta(days=3),
            "dismissed",
            timeline(at(1) - timedelta(days=3), detected(), (60, "closed", {})),
        ),
        running(
            "unk-1",
            "unknown",
            None,
            at(3, 9),
            timeline(at(3, 9), detected("Zap failed: 502 first", "zapier")),
            occurrences=2,
            signature="s1",
        ),
        running(
            "unk-2",
            "unknown",
            None,
            at(3, 9, 10),
            timeline(at(3, 9, 10), detected("Zap failed: 502 latest", "zapier")),
            signature="s1",
        ),
        running(
            "unk-3",
            "unknown",
            None,
            at(3, 9, 20),
            timeline(at(3, 9, 20), detected("something else", "zapier")),
            signature="s2",
        ),
        running(
            "pf-open",
            "payment_failed",
            "A",
            at(5, 8),
            timeline(at(5, 8), detected(), (5, "notified", {}), (3600, "escalated", {"level": 1})),
            level=1,
            permalink="https://acme.slack.com/archives/C1/p12",
        ),
        # Closed by a person, still cooling down: a running workflow that counts as closed.
        running(
            "ob-1",
            "onboarding_overdue",
            "C",
            at(4, 0, 30),
            timeline(
                at(4, 0, 30),
                detected(),
                (0, "diagnosed", {}),
                (0, "digested", {}),
                (600, "human_action", {}),
                (600, "closed", {}),
                (700, "cooldown", {}),
            ),
            outcome="dismissed",
        ),
        RemediationFacts(
            workflow_id="pf-term",
            run_id="run-term",
            execution="other",
            execution_status="TERMINATED",
            start_time=at(6),
            close_time=at(6, 1),
            error_type="payment_failed",
        ),
    ]


def test_report_numbers(facts: list[RemediationFacts]) -> None:
    report = compute_report(
        ReportRequest(since=SINCE, until=UNTIL),
        facts,
        namespace="default",
        temporal_ui_url=UI,
        generated_at=UNTIL,
    )
    totals = report.totals
    assert (totals.open_now, totals.opened, totals.closed, totals.occurrences) == (4, 10, 5, 11)
    assert [o.workflow_id for o in report.open.items] == ["unk-1", "unk-2", "unk-3", "pf-open"]
    assert report.open.by_type == {"unknown": 3, "payment_failed": 1}
    assert report.open.by_escalation_level == {"0": 3, "1": 1}
    pf_open = report.open.items[-1]
    assert pf_open.temporal_url == f"{UI}/namespaces/default/workflows/pf-open/run-pf-open/history"
    assert pf_open.slack_url == "https://acme.slack.com/archives/C1/p12"
    assert pf_open.age_seconds == (UNTIL - at(5, 8)).total_seconds()

    assert {o.outcome: (o.count, o.share) for o in report.outcomes} == {
        "auto_resolved": (1, 0.2),
        "resolved_by_human": (1, 0.2),
        "resolved_externally": (1, 0.2),
        "dismissed": (1, 0.2),
        "expired": (1, 0.2),
    }
    by_type = {s.error_type: s for s in report.by_type}
    pf = by_type["payment_failed"]
    assert (pf.opened, pf.closed, pf.open_now) == (5, 3, 1)
    # MTTR over 1825, 3600, 172800: the median is 3600; p90 sits 80% of the way to 172800.
    assert pf.mttr.model_dump() == {"count": 3, "p50": 3600.0, "p90": 3600 + 0.8 * 169200}
    assert pf.mtta.model_dump() == {"count": 1, "p50": 1815.0, "p90": 1815.0}
    assert by_type["onboarding_overdue"].mtta.p50 == 600.0
    assert by_type["unknown"].occurrences == 4

    spent = {row.error_type: row for row in report.time_spent}
    assert spent["payment_failed"].seconds == {
        "diagnosis": 10 + 5 + 2,
        "automated": 2 + 3 + 10,
        "waiting_for_person": 1800 + 14395 + 3598,
        "escalated": 172800 - 14400,
    }
    assert spent["stage_mismatch"].seconds["diagnosis"] == 60
    assert spent["all"].remediations == 5
    steps = {(s.error_type, s.step): (s.runs, s.total_seconds) for s in report.steps}
    assert steps == {
        ("payment_failed", "manual-retry"): (1, 10.0),
        ("payment_failed", "payer-link"): (1, 2.0),
    }

    clusters = report.clusters
    assert [(c.account_key, c.remediations, c.open) for c in clusters.accounts] == [("A", 4, 1)]
    assert [(c.error_types, c.accounts, c.count) for c in clusters.co_occurrences] == [
        (["payment_failed", "stage_mismatch"], ["Account A"], 2)
    ]
    assert [(b.error_type, b.count) for b in clusters.bursts] == [("unknown", 3)]

    assert len(report.sop_candidates) == 1
    candidate = report.sop_candidates[0]
    assert (candidate.signature, candidate.seen, candidate.remediations, candidate.open) == (
        "s1",
        3,
        2,
        2,
    )
    assert candidate.sample == "Zap failed: 502 latest"
    assert candidate.source == "zapier"

    assert [(d.day, d.total) for d in report.frequency] == [
        (date(2026, 1, 1), 3),
        (date(2026, 1, 2), 1),
        (date(2026, 1, 3), 3),
        (date(2026, 1, 4), 1),
        (date(2026, 1, 5), 1),
        (date(2026, 1, 6), 1),
        (date(2026, 1, 7), 0),
    ]
    assert [u.workflow_id for u in report.unreadable] == ["pf-term"]

    text = render_text(report)
    assert "pf-open" in text and "s1  seen 3×" in text
    page = render_html(report, refresh_seconds=30)
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page and "https://" not in page.replace(
        "https://acme.slack.com/archives/C1/p12", ""
    )


def test_bursts_are_reported_once_per_run_of_starts() -> None:
    starts = [at(2, 10, m) for m in (0, 10, 20, 30)] + [at(2, 12), at(2, 12, 5)]
    facts = [
        running(f"u{n}", "unknown", None, start, timeline(start, detected()))
        for n, start in enumerate(starts)
    ]
    report = compute_report(
        ReportRequest(since=SINCE, until=UNTIL, burst_min=3),
        facts,
        namespace="default",
        temporal_ui_url=UI,
        generated_at=UNTIL,
    )
    assert [(b.count, b.start, b.end) for b in report.clusters.bursts] == [
        (4, at(2, 10), at(2, 10, 30))
    ]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(range(1, 11), 0.9) == pytest.approx(9.1)


def test_moments() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert parse_moment("7d", now) == now - timedelta(days=7)
    assert parse_moment("90m", now) == now - timedelta(minutes=90)
    assert parse_moment("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:00:00+02:00", now) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_moment("last tuesday", now)
    with pytest.raises(ValueError, match="since must be before until"):
        ReportRequest(since=now, until=now)
