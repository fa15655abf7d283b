"""Pure report arithmetic: RemediationFacts in, Report out. No I/O, so every number on the
page can be checked exactly against hand-made timelines.

Window semantics (``since`` inclusive, ``until`` exclusive):
- *opened* counts remediations that started in the window (frequency, opened per type);
- *closed* counts remediations whose resolution (the timeline's ``closed`` entry) falls in
  the window: MTTA, MTTR, outcome shares and where the time went are computed over these;
- *open* means open now: the run is still going and has not closed. A remediation cooling
  down after it closed is still a running workflow but counts as closed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from canary.blocks import temporal_ui_link
from canary.models import (
    PAYMENT_FAILED,
    RemediationStatus,
    ResolutionRecord,
    TimelineEntry,
)
from canary.reports.models import (
    OUTCOMES,
    PHASES,
    AccountCluster,
    Burst,
    Clusters,
    CoOccurrence,
    DayCount,
    DismissalReason,
    OpenRemediation,
    OpenSummary,
    OutcomeShare,
    RemediationFacts,
    Report,
    ReportRequest,
    SopCandidate,
    StepTime,
    TimeSpent,
    Totals,
    TypeStats,
    Unreadable,
)
from canary.reports.recovery import PaymentRun, recovery_section
from canary.reports.stats import percentiles
from canary.search_attributes import is_open

#: The reason of a dismissal recorded before Canary asked for one.
NO_REASON = "(no reason given)"


def run_url(temporal_ui_url: str, namespace: str, workflow_id: str, run_id: str) -> str:
    """The Temporal UI page of one run (a subject reopened later has several runs)."""
    return f"{temporal_ui_link(temporal_ui_url, namespace, workflow_id)}/{run_id}/history"


def list_url(temporal_ui_url: str, namespace: str) -> str:
    query = 'WorkflowType="RemediationWorkflow" AND ExecutionStatus="Running"'
    return f"{temporal_ui_url.rstrip('/')}/namespaces/{namespace}/workflows?query={quote(query)}"


def record_from_status(status: RemediationStatus) -> ResolutionRecord | None:
    """A remediation that closed but is still running (cooling down, folding in repeats
    quietly) has no workflow result yet; its timeline says everything the record would."""
    if status.outcome is None:
        return None
    closed = next((e for e in reversed(status.timeline) if e.kind == "closed"), None)
    if closed is None:
        return None
    first_human = next((e.at for e in status.timeline if e.kind == "human_action"), None)
    notified = next((e.at for e in status.timeline if e.kind in ("notified", "digested")), None)
    escalations = [int(e.data.get("level", 0)) for e in status.timeline if e.kind == "escalated"]
    return ResolutionRecord(
        workflow_id=status.workflow_id,
        error_type=status.error_type,
        state=status.state,
        outcome=status.outcome,
        subject=status.subject,
        account=status.account,
        severity=status.severity,
        resolved_by=closed.actor,
        started_at=status.started_at,
        first_notified_at=notified,
        first_human_action_at=first_human,
        closed_at=closed.at,
        time_to_first_notification=notified - status.started_at if notified else None,
        time_to_first_human_action=first_human - status.started_at if first_human else None,
        time_to_resolution=closed.at - status.started_at,
        attempts=status.attempts,
        occurrences=status.occurrences,
        highest_escalation_level=max(escalations, default=0),
        signature=status.diagnosis.signature if status.diagnosis else None,
        timeline=status.timeline,
        **status.recovery_fields().model_dump(),
    )


def phase_seconds(
    timeline: list[TimelineEntry],
) -> tuple[dict[str, float], list[tuple[str, str, float, bool]]]:
    """Split a closed remediation's life into phases, walking its timeline.

    Each stretch between two entries belongs to the phase in force after the first: a SOP
    step running (``step_started`` → ``step_succeeded``/``step_failed``) is *automated*,
    whoever pressed for it; before ``diagnosed`` it is *diagnosis*; once the alert is out
    (``notified``/``digested``, or the state became awaiting_human) it is *waiting for a
    person*, and after the first ``escalated`` entry it is *escalated*; Canary's own work
    between diagnosis and the alert counts as automated. Time after ``closed`` (a cooldown)
    is nobody's. Also returns each step run: (step id, title, seconds, failed).
    """
    seconds = dict.fromkeys(PHASES, 0.0)
    steps: list[tuple[str, str, float, bool]] = []
    diagnosed = waiting = escalated = False
    # Steps that only prepare links run together: each finish closes its own start.
    running: dict[str, tuple[str, datetime]] = {}
    entries = sorted(timeline, key=lambda e: e.at)
    for index, entry in enumerate(entries):
        kind = entry.kind
        if kind == "closed":
            break
        if kind == "diagnosed":
            diagnosed = True
        elif kind == "step_started":
            running[str(entry.data.get("step", "?"))] = (entry.text, entry.at)
        elif kind in ("step_succeeded", "step_failed"):
            step = str(entry.data.get("step", "?"))
            if step in running:
                title, started = running.pop(step)
                seconds_taken = (entry.at - started).total_seconds()
                steps.append((step, title, seconds_taken, kind == "step_failed"))
        elif kind in ("notified", "digested"):
            waiting = True
        elif kind == "state" and entry.text.endswith(("awaiting_human", "escalated")):
            waiting = True
        elif kind == "escalated":
            escalated = True
        if index + 1 == len(entries):
            break
        stretch = (entries[index + 1].at - entry.at).total_seconds()
        if running:
            phase = "automated"
        elif not diagnosed:
            phase = "diagnosis"
        elif escalated:
            phase = "escalated"
        elif waiting:
            phase = "waiting_for_person"
        else:
            phase = "automated"
        seconds[phase] += stretch
    return seconds, steps


def _detected(timeline: list[TimelineEntry]) -> tuple[str | None, str | None]:
    """(source, message) of the first report, kept in the ``detected`` entry's data."""
    for entry in timeline:
        if entry.kind == "detected":
            detection = entry.data.get("detection") or {}
            return detection.get("source"), detection.get("message")
    return None, None


class _Item:
    """One remediation run with everything derived once: when it started, whether it is
    open or closed, its account and what the status or record say."""

    def __init__(self, facts: RemediationFacts) -> None:
        self.facts = facts
        status, record = facts.status, facts.record
        if record is None and status is not None:
            record = record_from_status(status)
        self.record = record
        self.status = status
        state = status.state if status is not None else facts.state
        self.open = is_open(facts.execution == "running", state) and record is None
        # A remediation began when Temporal accepted its start, which is at or before the
        # workflow's own clock on its first task (a busy worker picks starts up out of order);
        # a continued run's own start is later than the carried beginning.
        recorded = record.started_at if record else status.started_at if status else None
        self.started = min(recorded, facts.start_time) if recorded else facts.start_time
        self.error_type = (
            record.error_type if record else status.error_type if status else facts.error_type
        )
        account = record.account if record else status.account if status else None
        self.account_key = (account.key() if account else None) or facts.account_key or None
        self.account = account.label() if account else (facts.account_key or "unknown account")
        self.occurrences = record.occurrences if record else status.occurrences if status else 1
        self.timeline = record.timeline if record else status.timeline if status else []
        self.signature = (
            record.signature
            if record
            else (status.diagnosis.signature if status and status.diagnosis else None)
        ) or facts.signature

    def started_in(self, request: ReportRequest) -> bool:
        return request.since <= self.started < request.until

    def closed_in(self, request: ReportRequest) -> bool:
        return self.record is not None and request.since <= self.record.closed_at < request.until


def _open_item(item: _Item, request: ReportRequest, namespace: str, ui: str) -> OpenRemediation:
    facts, status = item.facts, item.status
    subject = (
        f"{status.subject.kind}:{status.subject.id}"
        if status
        else facts.subject or facts.workflow_id
    )
    return OpenRemediation(
        workflow_id=facts.workflow_id,
        run_id=facts.run_id,
        error_type=item.error_type,
        severity=status.severity if status else facts.severity,
        state=status.state if status else facts.state or "diagnosing",
        escalation_level=status.escalation_level if status else facts.escalation_level,
        owner=(status.owner if status else None) or facts.owner,
        account=item.account,
        account_key=item.account_key,
        subject=subject,
        headline=status.headline if status else "",
        occurrences=item.occurrences,
        attempts=status.attempts if status else 0,
        started_at=item.started,
        age_seconds=max((request.until - item.started).total_seconds(), 0.0),
        temporal_url=run_url(ui, namespace, facts.workflow_id, facts.run_id),
        slack_url=status.slack.permalink if status and status.slack else None,
    )


def _counts(values: Iterable[str]) -> dict[str, int]:
    counted = Counter(values)
    return {key: counted[key] for key in sorted(counted, key=lambda k: (-counted[k], k))}


def _frequency(items: list[_Item], request: ReportRequest) -> list[DayCount]:
    first = request.since.astimezone(UTC).date()
    last = (request.until - timedelta(microseconds=1)).astimezone(UTC).date()
    per_day: dict[object, Counter[str]] = defaultdict(Counter)
    for item in items:
        if item.started_in(request):
            per_day[item.started.astimezone(UTC).date()][item.error_type] += 1
    days = []
    day = first
    while day <= last:
        counted = per_day.get(day, Counter())
        days.append(
            DayCount(day=day, total=sum(counted.values()), by_type=dict(sorted(counted.items())))
        )
        day += timedelta(days=1)
    return days


def _clusters(items: list[_Item], request: ReportRequest) -> Clusters:
    recent = [i for i in items if i.open or i.started_in(request) or i.closed_in(request)]
    by_account: dict[str, list[_Item]] = defaultdict(list)
    for item in recent:
        if item.account_key:
            by_account[item.account_key].append(item)
    accounts = [
        AccountCluster(
            account_key=key,
            account=group[0].account,
            remediations=len(group),
            open=sum(1 for i in group if i.open),
            error_types=sorted({i.error_type for i in group}),
            workflow_ids=[i.facts.workflow_id for i in sorted(group, key=lambda i: i.started)],
        )
        for key, group in by_account.items()
        if len(group) >= request.cluster_min
    ]
    accounts.sort(key=lambda c: (-c.remediations, -c.open, c.account))

    pairs: dict[tuple[str, str], tuple[set[str], int]] = {}
    for group in by_account.values():
        ordered = sorted(group, key=lambda i: i.started)
        for n, first in enumerate(ordered):
            for second in ordered[n + 1 :]:
                if second.started - first.started > request.cooccurrence_window:
                    break
                if first.error_type == second.error_type:
                    continue
                key = tuple(sorted((first.error_type, second.error_type)))
                names, count = pairs.get(key, (set(), 0))  # type: ignore[arg-type]
                names.add(first.account)
                pairs[key] = (names, count + 1)  # type: ignore[index]
    co_occurrences = [
        CoOccurrence(error_types=list(key), accounts=sorted(names), count=count)
        for key, (names, count) in pairs.items()
    ]
    co_occurrences.sort(key=lambda c: (-len(c.accounts), -c.count, c.error_types))

    bursts: list[Burst] = []
    by_type: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        if item.started_in(request):
            by_type[item.error_type].append(item)
    for error_type, group in sorted(by_type.items()):
        ordered = sorted(group, key=lambda i: i.started)
        start = 0
        while start < len(ordered):
            # The longest run starting here that fits in the burst window; a burst is
            # reported once, not once per member.
            end = start
            while (
                end + 1 < len(ordered)
                and ordered[end + 1].started - ordered[start].started <= request.burst_window
            ):
                end += 1
            if end - start + 1 >= request.burst_min:
                members = ordered[start : end + 1]
                bursts.append(
                    Burst(
                        error_type=error_type,
                        start=members[0].started,
                        end=members[-1].started,
                        count=len(members),
                        workflow_ids=[m.facts.workflow_id for m in members],
                    )
                )
                start = end + 1
            else:
                start += 1
    bursts.sort(key=lambda b: (-b.count, b.start))
    return Clusters(accounts=accounts, co_occurrences=co_occurrences, bursts=bursts)


def _sop_candidates(items: list[_Item], request: ReportRequest) -> list[SopCandidate]:
    groups: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        if item.error_type != "unknown" or not item.signature:
            continue
        if item.open or item.started_in(request) or item.closed_in(request):
            groups[item.signature].append(item)
    candidates = []
    for signature, group in groups.items():
        seen = sum(i.occurrences for i in group)
        if seen < request.sop_candidate_min:
            continue
        ordered = sorted(group, key=lambda i: i.started)
        source, sample = None, None
        for item in reversed(ordered):  # the latest wording is the most useful sample
            source, sample = _detected(item.timeline)
            if sample:
                break
        candidates.append(
            SopCandidate(
                signature=signature,
                source=source,
                seen=seen,
                remediations=len(group),
                open=sum(1 for i in group if i.open),
                sample=(sample or "")[:500],
                first_seen=ordered[0].started,
                last_seen=ordered[-1].started,
                workflow_ids=[i.facts.workflow_id for i in ordered],
            )
        )
    candidates.sort(key=lambda c: (-c.seen, c.signature))
    return candidates


def _time_spent(closed: list[_Item]) -> tuple[list[TimeSpent], list[StepTime]]:
    per_type: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(PHASES, 0.0))
    remediations: Counter[str] = Counter()
    step_runs: dict[tuple[str, str], list[tuple[str, float, bool]]] = defaultdict(list)
    for item in closed:
        seconds, steps = phase_seconds(item.timeline)
        remediations[item.error_type] += 1
        for phase, value in seconds.items():
            per_type[item.error_type][phase] += value
        for step, title, duration, failed in steps:
            step_runs[(item.error_type, step)].append((title, duration, failed))

    def row(error_type: str, seconds: dict[str, float], count: int) -> TimeSpent:
        total = sum(seconds.values())
        return TimeSpent(
            error_type=error_type,
            remediations=count,
            seconds={p: round(seconds[p], 3) for p in PHASES},
            total_seconds=round(total, 3),
            shares={p: round(seconds[p] / total, 4) if total else 0.0 for p in PHASES},
        )

    rows = [row(t, per_type[t], remediations[t]) for t in sorted(per_type)]
    if rows:
        overall = {p: sum(per_type[t][p] for t in per_type) for p in PHASES}
        rows.append(row("all", overall, sum(remediations.values())))
    step_rows = []
    for (error_type, step), runs in sorted(step_runs.items()):
        total = sum(d for _, d, _ in runs)
        step_rows.append(
            StepTime(
                error_type=error_type,
                step=step,
                title=runs[-1][0],
                runs=len(runs),
                failures=sum(1 for _, _, failed in runs if failed),
                total_seconds=round(total, 3),
                mean_seconds=round(total / len(runs), 3),
            )
        )
    return rows, step_rows


def _payment_runs(items: list[_Item]) -> list[PaymentRun]:
    """The payment remediations whose status or record could be read (the others are in the
    report's caveats), for the recovery section."""
    runs = []
    for item in items:
        known = item.record or item.status
        if known is None or item.error_type != PAYMENT_FAILED:
            continue
        runs.append(
            PaymentRun(
                invoice=f"{known.subject.kind}:{known.subject.id}",
                first_failed_at=known.first_failed_at or item.started,
                open=item.open,
                outcome=item.record.outcome if item.record else None,
                closed_at=item.record.closed_at if item.record else None,
                recovery=known.recovery_fields(),
            )
        )
    return runs


def compute_report(
    request: ReportRequest,
    facts: list[RemediationFacts],
    *,
    namespace: str,
    temporal_ui_url: str,
    generated_at: datetime,
    truncated: bool = False,
) -> Report:
    items = [_Item(f) for f in facts if f.start_time < request.until]
    open_items = sorted(
        (i for i in items if i.open), key=lambda i: (i.started, i.facts.workflow_id)
    )
    closed = [i for i in items if i.closed_in(request)]
    started = [i for i in items if i.started_in(request)]
    error_types = sorted({i.error_type for i in (*open_items, *closed, *started)})

    opened_items = [_open_item(i, request, namespace, temporal_ui_url) for i in open_items]
    open_summary = OpenSummary(
        total=len(opened_items),
        by_type=_counts(o.error_type for o in opened_items),
        by_severity=_counts(o.severity for o in opened_items),
        by_escalation_level=_counts(str(o.escalation_level) for o in opened_items),
        by_owner=_counts(o.owner or "(no owner)" for o in opened_items),
        items=opened_items,
    )

    by_type = []
    for error_type in error_types:
        done = [i.record for i in closed if i.error_type == error_type and i.record]
        mine = [i for i in started if i.error_type == error_type]
        outcome_counts = Counter(r.outcome for r in done)
        by_type.append(
            TypeStats(
                error_type=error_type,
                opened=len(mine),
                occurrences=sum(i.occurrences for i in mine),
                closed=len(done),
                open_now=sum(1 for i in open_items if i.error_type == error_type),
                mtta=percentiles(
                    [
                        r.time_to_first_human_action.total_seconds()
                        for r in done
                        if r.time_to_first_human_action is not None
                    ]
                ),
                mttr=percentiles([r.time_to_resolution.total_seconds() for r in done]),
                outcomes={o: outcome_counts.get(o, 0) for o in OUTCOMES},
            )
        )

    outcome_counts = Counter(i.record.outcome for i in closed if i.record)
    outcomes = [
        OutcomeShare(
            outcome=o,
            count=outcome_counts.get(o, 0),
            share=round(outcome_counts.get(o, 0) / len(closed), 4) if closed else 0.0,
        )
        for o in OUTCOMES
    ]
    time_spent, steps = _time_spent(closed)
    dismissed = [i.record for i in closed if i.record and i.record.outcome == "dismissed"]
    reasons = Counter(r.close_reason or NO_REASON for r in dismissed)
    dismissals = [
        DismissalReason(
            reason=reason,
            count=count,
            by_type=dict(
                Counter(r.error_type for r in dismissed if (r.close_reason or NO_REASON) == reason)
            ),
        )
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    unreadable = [
        Unreadable(
            workflow_id=i.facts.workflow_id,
            run_id=i.facts.run_id,
            reason=i.facts.read_error or f"run is {i.facts.execution_status.lower()}",
        )
        for i in items
        if (i.facts.execution == "other" or i.facts.read_error)
        and (i.open or i.started_in(request))
    ]
    return Report(
        generated_at=generated_at,
        since=request.since,
        until=request.until,
        namespace=namespace,
        temporal_ui_url=temporal_ui_url,
        temporal_list_url=list_url(temporal_ui_url, namespace),
        request=request,
        totals=Totals(
            open_now=len(open_items),
            opened=len(started),
            closed=len(closed),
            occurrences=sum(i.occurrences for i in started),
        ),
        open=open_summary,
        frequency=_frequency(items, request),
        error_types=error_types,
        by_type=by_type,
        outcomes=outcomes,
        dismissals=dismissals,
        time_spent=time_spent,
        steps=steps,
        clusters=_clusters(items, request),
        sop_candidates=_sop_candidates(items, request),
        recovery=recovery_section(_payment_runs(items), request),
        unreadable=unreadable,
        truncated=truncated,
    )
