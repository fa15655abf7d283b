"""Detector rules: pure functions from query rows (and today's date) to findings.

No I/O, no clocks: the detector workflow calls them with rows an activity fetched and the
workflow's own ``now``, so a run is deterministic, replayable and unit-testable without
services. Every threshold is strict ("more than", "under"): a value exactly at the threshold
is not a finding, which the tests pin down.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from canary.models.detection import AccountRef, Link, Subject
from canary.models.detectors import (
    AccountShiftDetector,
    Finding,
    IrateCustomerDetector,
    LowAdoptionDetector,
    MetricThresholdDetector,
    OnboardingOverdueDetector,
    RenewalTouchpointDetector,
    RuleResult,
    Skipped,
    ValueFormat,
    as_date,
)
from canary.rules.report import format_value, sparkline, text_table

# -- baseline shift ---------------------------------------------------------------------------

ShiftStatus = Literal["shift", "steady", "no_baseline", "no_data"]


@dataclass(frozen=True)
class Shift:
    status: ShiftStatus
    current: float | None = None
    mean: float | None = None
    stddev: float | None = None
    zscore: float | None = None
    change: float | None = None  # (current - mean) / mean
    direction: Literal["up", "down", "flat"] = "flat"
    baseline_points: int = 0
    by_stddev: bool = False
    by_percent: bool = False


def baseline_shift(
    values: list[float],
    *,
    baseline_points: int = 8,
    min_baseline_points: int = 4,
    stddevs: float | None = 2.0,
    percent: float | None = None,
) -> Shift:
    """Compare the latest value with the mean of up to ``baseline_points`` values before it.

    A shift is strictly more than ``stddevs`` sample standard deviations from the trailing
    mean, or strictly more than ``percent`` (0.5 = 50 %) away from it, in either direction.
    With fewer than ``min_baseline_points`` earlier values there is no baseline yet, and a
    customer with a single data point never alerts. A flat baseline (standard deviation 0)
    cannot say how unusual a move is in deviations, so only the percentage applies to it.
    """
    if stddevs is None and percent is None:
        raise ValueError("baseline_shift needs stddevs, percent or both")
    if not values:
        return Shift("no_data")
    current = float(values[-1])
    baseline = [float(v) for v in values[:-1][-baseline_points:]] if baseline_points else []
    if len(baseline) < max(min_baseline_points, 1):
        return Shift("no_baseline", current=current, baseline_points=len(baseline))
    mean = sum(baseline) / len(baseline)
    stddev = _sample_stddev(baseline, mean)
    zscore = (current - mean) / stddev if stddev > 0 else None
    change = (current - mean) / mean if mean != 0 else None
    by_stddev = stddevs is not None and zscore is not None and abs(zscore) > stddevs
    by_percent = percent is not None and change is not None and abs(change) > percent
    if mean == 0 and current != 0 and percent is not None:
        # From nothing to something is an infinite percentage: always beyond.
        by_percent = True
    direction: Literal["up", "down", "flat"] = (
        "up" if current > mean else "down" if current < mean else "flat"
    )
    return Shift(
        "shift" if by_stddev or by_percent else "steady",
        current=current,
        mean=mean,
        stddev=stddev,
        zscore=zscore,
        change=change,
        direction=direction,
        baseline_points=len(baseline),
        by_stddev=by_stddev,
        by_percent=by_percent,
    )


def _sample_stddev(values: list[float], mean: float) -> float:
    if len(values) < 2:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def account_key(row: dict[str, Any]) -> tuple[str, AccountRef]:
    """The subject id and account of a warehouse row (CRM id preferred, else the app id)."""
    crm = row.get("crm_id") or None
    app = row.get("app_account_id") or None
    account = AccountRef(
        crm_id=str(crm) if crm else None,
        app_account_id=str(app) if app else None,
        name=row.get("account_name") or None,
        owner_email=row.get("owner_email") or None,
    )
    return str(crm or app or row.get("account_name") or "unknown"), account


def account_shifts(rows: list[dict[str, Any]], spec: AccountShiftDetector) -> RuleResult:
    """Group the series by account and judge each one's latest period against its baseline."""
    series: OrderedDict[str, tuple[AccountRef, list[tuple[str, float]]]] = OrderedDict()
    for row in rows:
        if row.get("value") is None:
            continue
        key, account = account_key(row)
        series.setdefault(key, (account, []))[1].append(
            (str(row.get("period")), float(row["value"]))
        )
    result = RuleResult(checked=len(series))
    for key, (account, points) in series.items():
        points.sort(key=lambda p: p[0])
        values = [v for _, v in points]
        shift = baseline_shift(
            values,
            baseline_points=spec.baseline_points,
            min_baseline_points=spec.min_baseline_points,
            stddevs=spec.stddevs,
            percent=spec.percent,
        )
        if shift.status == "no_baseline":
            result.skipped.append(
                Skipped(
                    subject_id=key,
                    reason=f"no baseline yet: {shift.baseline_points} earlier "
                    f"point(s), {spec.min_baseline_points} needed",
                )
            )
            continue
        if shift.status != "shift":
            continue
        assert shift.current is not None and shift.mean is not None
        fmt = spec.value_format
        label = account.label()
        # The direction is said in words ("down 66%"), so the figure carries no sign.
        change = f"{abs(shift.change):.0%}" if shift.change is not None else "from zero"
        sigma = f"{shift.zscore:+.1f}σ" if shift.zscore is not None else "flat baseline"
        up = shift.direction == "up"
        facts: dict[str, Any] = {
            "metric": spec.metric,
            "direction": shift.direction,
            "current": shift.current,
            "current_display": format_value(shift.current, fmt),
            "baseline_mean": round(shift.mean, 4),
            "baseline_display": format_value(shift.mean, fmt),
            "baseline_stddev": round(shift.stddev or 0.0, 4),
            "baseline_points": shift.baseline_points,
            "zscore": round(shift.zscore, 2) if shift.zscore is not None else None,
            "zscore_display": sigma,
            "change": round(shift.change, 4) if shift.change is not None else None,
            "change_display": change,
            "period": points[-1][0],
            "series": [{"period": p, "value": v} for p, v in points],
            "sparkline": sparkline(values),
            "threshold_display": _shift_threshold(spec),
            "meaning": "a chance to thank the customer and expand"
            if up
            else "a churn risk to look into",
        }
        result.findings.append(
            Finding(
                subject=Subject(kind="account_metric", id=f"{key}.{_slug(spec.metric)}"),
                account=account,
                message=f"{label}'s {spec.metric} moved {'up' if up else 'down'} to "
                f"{facts['current_display']} against a baseline of {facts['baseline_display']} "
                f"({change}, {sigma}).",
                facts=facts,
            )
        )
    return result


def _shift_threshold(spec: AccountShiftDetector) -> str:
    parts = []
    if spec.stddevs is not None:
        parts.append(f"more than {spec.stddevs:g} standard deviations")
    if spec.percent is not None:
        parts.append(f"more than {spec.percent:.0%}")
    return " or ".join(parts) + f" from the trailing {spec.baseline_points}-period mean"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


# -- onboarding overdue -----------------------------------------------------------------------


def _csm_facts(account: dict[str, Any]) -> dict[str, Any]:
    csm = account.get("Customer_Success_Manager__r") or {}
    manager = csm.get("Manager") or {}
    facts = {
        "csm_id": csm.get("Id"),
        "csm_name": csm.get("Name"),
        "csm_email": csm.get("Email"),
        "manager_email": manager.get("Email"),
        "manager_name": manager.get("Name"),
    }
    return {k: v for k, v in facts.items() if v}


def onboarding_overdue(
    deals: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    today: date,
    spec: OnboardingOverdueDetector,
) -> RuleResult:
    """Accounts whose first Closed Won deal is more than ``after_days`` old and whose
    onboarding milestones are not all completed (or whose success plan says so)."""
    first_deal: dict[str, dict[str, Any]] = {}
    for deal in deals:
        account_id = deal.get("AccountId")
        closed = as_date(deal.get("CloseDate"))
        if not account_id or closed is None:
            continue
        known = first_deal.get(account_id)
        if known is None or closed < as_date(known.get("CloseDate")):  # type: ignore[operator]
            first_deal[account_id] = deal
    result = RuleResult(checked=len(first_deal))
    for account_id, deal in first_deal.items():
        account = deal.get("Account") or {}
        if account.get("Onboarding_Complete__c") is True:
            continue
        closed = as_date(deal["CloseDate"])
        assert closed is not None
        days = (today - closed).days
        if days <= spec.after_days:
            continue
        done, missing = _milestones(tasks, account_id, spec)
        if not missing:
            continue
        csm = _csm_facts(account)
        name = account.get("Name") or account_id
        facts: dict[str, Any] = {
            "opportunity_id": deal.get("Id"),
            "opportunity_name": deal.get("Name"),
            "close_date": closed.isoformat(),
            "days_since_close": days,
            "after_days": spec.after_days,
            "days_overdue": days - spec.after_days,
            "milestones_done": done,
            "milestones_missing": missing,
            "milestones_missing_text": ", ".join(missing),
            "milestones_done_text": ", ".join(done) or "none",
            **csm,
        }
        result.findings.append(
            Finding(
                subject=Subject(kind="account", id=account_id),
                account=AccountRef(crm_id=account_id, name=name, owner_email=csm.get("csm_email")),
                message=f"{name} closed {days} days ago (onboarding due within {spec.after_days}); "
                f"milestones still open: {', '.join(missing)}.",
                facts=facts,
            )
        )
    return result


def _milestones(
    tasks: list[dict[str, Any]], account_id: str, spec: OnboardingOverdueDetector
) -> tuple[list[str], list[str]]:
    relevant = [
        t
        for t in tasks
        if t.get("AccountId") == account_id
        and (spec.milestone_task_type is None or t.get("Type") == spec.milestone_task_type)
    ]
    done: list[str] = []
    missing: list[str] = []
    for milestone in spec.milestones:
        needle = milestone.subject_contains.lower()
        completed = any(
            needle in str(t.get("Subject") or "").lower() and t.get("Status") == "Completed"
            for t in relevant
        )
        (done if completed else missing).append(milestone.name)
    return done, missing


# -- renewal touchpoint -----------------------------------------------------------------------


def renewal_touchpoints(
    accounts: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    today: date,
    spec: RenewalTouchpointDetector,
) -> RuleResult:
    """Renewals due within ``within_days`` (inclusive) with no business review held in the
    last ``lookback_days`` and none scheduled before the renewal."""
    result = RuleResult()
    for account in accounts:
        renewal = as_date(account.get("Renewal_Date__c"))
        if renewal is None:
            continue
        days_to = (renewal - today).days
        if days_to < 0 or days_to > spec.within_days:
            continue
        result.checked += 1
        account_id = str(account["Id"])
        held, scheduled = _touchpoints(tasks, account_id, today, renewal, spec)
        if held or scheduled:
            continue
        csm = _csm_facts(account)
        name = account.get("Name") or account_id
        facts: dict[str, Any] = {
            "renewal_date": renewal.isoformat(),
            "days_to_renewal": days_to,
            "within_days": spec.within_days,
            "lookback_days": spec.lookback_days,
            "touchpoints": ", ".join(spec.touchpoint_subjects),
            **csm,
        }
        owner = (account.get("Owner") or {}).get("Email")
        if owner:
            facts["account_owner_email"] = owner
        result.findings.append(
            Finding(
                subject=Subject(kind="account", id=account_id),
                account=AccountRef(
                    crm_id=account_id, name=name, owner_email=csm.get("csm_email") or owner
                ),
                message=f"{name} renews on {renewal.isoformat()} (in {days_to} days) and no "
                f"business review was held in the last {spec.lookback_days} days or is "
                "scheduled before it.",
                facts=facts,
            )
        )
    return result


def _touchpoints(
    tasks: list[dict[str, Any]],
    account_id: str,
    today: date,
    renewal: date,
    spec: RenewalTouchpointDetector,
) -> tuple[bool, bool]:
    since = today - timedelta(days=spec.lookback_days)
    held = scheduled = False
    for task in tasks:
        if task.get("AccountId") != account_id:
            continue
        if spec.touchpoint_task_type and task.get("Type") != spec.touchpoint_task_type:
            continue
        subject = str(task.get("Subject") or "").lower()
        if not any(s.lower() in subject for s in spec.touchpoint_subjects):
            continue
        when = as_date(task.get("ActivityDate"))
        if when is None:
            continue
        if task.get("Status") == "Completed" and since <= when <= today:
            held = True
        elif task.get("Status") != "Completed" and today <= when <= renewal:
            scheduled = True
    return held, scheduled


# -- low adoption -----------------------------------------------------------------------------


def low_adoption(rows: list[dict[str, Any]], spec: LowAdoptionDetector) -> RuleResult:
    result = RuleResult()
    for row in rows:
        key, account = account_key(row)
        value = row.get(spec.value_column)
        result.checked += 1
        if value is None:
            result.skipped.append(Skipped(subject_id=key, reason="no usage data in the window"))
            continue
        value = float(value)
        if not value < spec.below:
            continue
        figures = {
            k: v
            for k, v in row.items()
            if k not in {"app_account_id", "crm_id", "account_name", "owner_email"}
        }
        facts: dict[str, Any] = {
            **figures,
            "value": value,
            "value_display": format_value(value, spec.value_format),
            "threshold": spec.below,
            "threshold_display": format_value(spec.below, spec.value_format),
            "window_days": spec.window_days,
            "figures_text": ", ".join(
                f"{k.replace('_', ' ')} {_plain(v)}" for k, v in figures.items()
            ),
        }
        result.findings.append(
            Finding(
                subject=Subject(kind="account", id=key),
                account=account,
                message=f"{account.label()}: {spec.value_column.replace('_', ' ')} "
                f"{facts['value_display']} over {spec.window_days} days, under "
                f"{facts['threshold_display']}.",
                facts=facts,
            )
        )
    return result


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


# -- irate customer ---------------------------------------------------------------------------


def irate_customers(interactions: list[dict[str, Any]], spec: IrateCustomerDetector) -> RuleResult:
    """One finding per case whose angriest scored interaction is strictly under the threshold.

    Each interaction row has ``case_id``, ``text``, ``score`` (VADER compound, -1..1) and the
    case's account fields; the activity scored them (the lexicon is read from disk, so
    scoring is I/O and stays out of the workflow).
    """
    by_case: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for row in interactions:
        by_case.setdefault(str(row["case_id"]), []).append(row)
    result = RuleResult(checked=len(by_case))
    for case_id, rows in by_case.items():
        worst = min(rows, key=lambda r: float(r["score"]))
        score = float(worst["score"])
        if not score < spec.threshold:
            continue
        account = AccountRef(
            crm_id=worst.get("account_id") or None,
            name=worst.get("account_name") or None,
            owner_email=worst.get("owner_email") or None,
        )
        quote = str(worst["text"]).strip()
        facts: dict[str, Any] = {
            "case_id": case_id,
            "case_number": worst.get("case_number"),
            "case_subject": worst.get("case_subject"),
            "case_priority": worst.get("case_priority"),
            "quote": quote,
            "quote_from": worst.get("kind"),
            "interaction_id": worst.get("interaction_id"),
            "score": round(score, 4),
            "threshold": spec.threshold,
            "interactions_scored": len(rows),
            "csm_email": worst.get("csm_email"),
            "manager_email": worst.get("manager_email"),
        }
        result.findings.append(
            Finding(
                subject=Subject(kind="case", id=case_id),
                account=account,
                message=f"{account.label()} on case {worst.get('case_number') or case_id}: "
                f'"{quote}" (anger score {score:.2f}).',
                facts={k: v for k, v in facts.items() if v is not None},
            )
        )
    return result


# -- metric threshold -------------------------------------------------------------------------


def metric_threshold(rows: list[dict[str, Any]], spec: MetricThresholdDetector) -> RuleResult:
    """The KPI's latest value strictly above ``above`` or strictly below ``below``."""
    points = [(str(r["period"]), float(r["value"])) for r in rows if r.get("value") is not None]
    points.sort(key=lambda p: p[0])
    result = RuleResult(checked=1 if points else 0)
    if not points:
        result.skipped.append(Skipped(subject_id=spec.kpi, reason="no data for this KPI"))
        return result
    period, value = points[-1]
    crossed_above = spec.above is not None and value > spec.above
    crossed_below = spec.below is not None and value < spec.below
    if not (crossed_above or crossed_below):
        return result
    shown = points[-spec.periods :]
    fmt = spec.value_format
    threshold = spec.above if crossed_above else spec.below
    assert threshold is not None
    table = [["Period", spec.kpi_title]] + [[p, format_value(v, fmt)] for p, v in shown]
    facts: dict[str, Any] = {
        "kpi": spec.kpi,
        "kpi_title": spec.kpi_title,
        "period": period,
        "value": value,
        "value_display": format_value(value, fmt),
        "threshold": threshold,
        "threshold_display": format_value(threshold, fmt),
        "direction": "above" if crossed_above else "below",
        "value_format": fmt,
        "series": [{"period": p, "value": v} for p, v in shown],
        "series_length": len(shown),
        "sparkline": sparkline([v for _, v in shown]),
        "table_text": text_table(table),
        "audience_channel": spec.audience_channel,
        "audience_emails": list(spec.audience_emails),
    }
    result.findings.append(
        Finding(
            subject=Subject(kind="kpi", id=spec.kpi),
            message=f"{spec.kpi_title} is {facts['value_display']} on {period}, "
            f"{facts['direction']} the threshold of {facts['threshold_display']}.",
            facts={k: v for k, v in facts.items() if v is not None},
            links=[],
        )
    )
    return result


__all__ = [
    "Link",
    "Shift",
    "ValueFormat",
    "account_shifts",
    "baseline_shift",
    "irate_customers",
    "low_adoption",
    "metric_threshold",
    "onboarding_overdue",
    "renewal_touchpoints",
]
