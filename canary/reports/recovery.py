"""The recovery section: how failed payments were recovered, computed per invoice.

The denominator is Baremetrics' point: every invoice whose *first* failure fell in the window,
counted once (an invoice that failed, was dismissed and failed again is one invoice), whether
it was recovered, is still being recovered, was written off or given up. Dividing by the
recoveries' own cohort, or by failed attempts, or leaving out what is still open makes a rate
look better than it is.

An invoice's standing comes from its remediations' records and statuses (PaymentRecovery):
recovered when one of them says a way that brought money in (the first such), else open while
one is running, else written off, else ``unattributed`` when one closed as resolved without
saying how (a record made before Canary said) and ``not_recovered`` otherwise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from canary.models import RECOVERIES, PaymentRecovery
from canary.reports.models import (
    DECLINE_CLASSES,
    STANDINGS,
    UNCLASSIFIED,
    Recovery,
    RecoveryGroup,
    RecoveryWay,
    ReportRequest,
)
from canary.reports.stats import percentiles

#: Outcomes that say the remediation's problem went away (an unattributed one: maybe paid).
RESOLVED = frozenset({"auto_resolved", "resolved_by_human", "resolved_externally"})
#: The currency key of an amount whose currency is not known.
NO_CURRENCY = "unknown"


class PaymentRun(BaseModel):
    """One payment remediation run, as the recovery section reads it."""

    invoice: str = Field(description="The subject, e.g. invoice:in_123.")
    first_failed_at: datetime
    open: bool
    outcome: str | None
    closed_at: datetime | None
    recovery: PaymentRecovery


@dataclass(frozen=True)
class _Invoice:
    first_failed_at: datetime
    standing: str
    decline_class: str
    currency: str
    failed_amount: int | None
    recovered_amount: int | None
    recovered_seconds: float | None
    attempt: int | None

    @property
    def recovered(self) -> bool:
        return self.standing in RECOVERIES


def _invoice(runs: list[PaymentRun]) -> _Invoice:
    runs = sorted(runs, key=lambda r: r.first_failed_at)
    first_failed = runs[0].first_failed_at
    failed = next(
        (r.recovery.failed_amount for r in runs if r.recovery.failed_amount is not None), None
    )
    currency = next((r.recovery.currency for r in runs if r.recovery.currency), NO_CURRENCY)
    decline_class = next(
        (r.recovery.decline_class for r in runs if r.recovery.decline_class), UNCLASSIFIED
    )
    recovering = sorted(
        (r for r in runs if r.recovery.recovered_by in RECOVERIES),
        key=lambda r: r.recovery.recovered_at or r.closed_at or first_failed,
    )
    recovered_amount, seconds, attempt = None, None, None
    if recovering:
        run = recovering[0]
        standing: str = str(run.recovery.recovered_by)
        amount = run.recovery.recovered_amount
        recovered_amount = amount if amount is not None else failed or 0
        recovered_at = run.recovery.recovered_at or run.closed_at
        if recovered_at is not None:
            seconds = max((recovered_at - first_failed).total_seconds(), 0.0)
        attempt = run.recovery.recovery_attempt if standing == "scheduled_retry" else None
    elif any(r.open for r in runs):
        standing = "open"
    elif any(r.recovery.recovered_by == "written_off" for r in runs):
        standing = "written_off"
    elif any(r.outcome in RESOLVED for r in runs):
        standing = "unattributed"
    else:
        standing = "not_recovered"
    return _Invoice(
        first_failed_at=first_failed,
        standing=standing,
        decline_class=decline_class,
        currency=currency,
        failed_amount=failed,
        recovered_amount=recovered_amount,
        recovered_seconds=seconds,
        attempt=attempt,
    )


def _amounts(pairs: list[tuple[str, int | None]]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for currency, amount in pairs:
        if amount is not None:
            totals[currency] += amount
    return dict(sorted(totals.items()))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _group(key: str, invoices: list[_Invoice]) -> RecoveryGroup:
    standings = Counter(i.standing for i in invoices)
    recovered = sum(1 for i in invoices if i.recovered)
    return RecoveryGroup(
        key=key,
        invoices=len(invoices),
        recovered=recovered,
        recovery_rate=_rate(recovered, len(invoices)),
        standings={s: standings.get(s, 0) for s in STANDINGS},
        failed_amount=_amounts([(i.currency, i.failed_amount) for i in invoices]),
        recovered_amount=_amounts([(i.currency, i.recovered_amount) for i in invoices]),
    )


def _way(key: str, recovered: list[_Invoice], all_recovered: int, failures: int) -> RecoveryWay:
    return RecoveryWay(
        key=key,
        recovered=len(recovered),
        share_of_recoveries=_rate(len(recovered), all_recovered) or 0.0,
        share_of_failures=_rate(len(recovered), failures) or 0.0,
        recovered_amount=_amounts([(i.currency, i.recovered_amount) for i in recovered]),
    )


def _class_order(name: str) -> tuple[int, str]:
    if name in DECLINE_CLASSES:
        return DECLINE_CLASSES.index(name), name
    return (len(DECLINE_CLASSES) + (name == UNCLASSIFIED), name)


def _attempt_order(key: str) -> tuple[bool, int]:
    return (not key.isdigit(), int(key) if key.isdigit() else 0)


def recovery_section(runs: list[PaymentRun], request: ReportRequest) -> Recovery:
    """The recovery section of the report over ``runs`` (every payment remediation run read,
    open or closed, in the window or not)."""
    by_invoice: dict[str, list[PaymentRun]] = defaultdict(list)
    for run in runs:
        by_invoice[run.invoice].append(run)
    invoices = {key: _invoice(group) for key, group in by_invoice.items()}
    cohort = [i for i in invoices.values() if request.since <= i.first_failed_at < request.until]
    overall = _group("all", cohort)
    recovered = [i for i in cohort if i.recovered]
    classes: dict[str, list[_Invoice]] = defaultdict(list)
    for invoice in cohort:
        classes[invoice.decline_class].append(invoice)
    attempts: dict[str, list[_Invoice]] = defaultdict(list)
    for invoice in recovered:
        if invoice.standing == "scheduled_retry":
            attempts[str(invoice.attempt) if invoice.attempt else "?"].append(invoice)
    at_risk = [i for i in invoices.values() if i.standing == "open"]
    amount_rates = {
        currency: round(overall.recovered_amount.get(currency, 0) / failed, 4)
        for currency, failed in overall.failed_amount.items()
        if failed
    }
    return Recovery(
        denominator=(
            f"{len(cohort)} invoice{'s' if len(cohort) != 1 else ''} whose first payment "
            "failure fell in the window, each counted once: recovered, still being "
            "recovered, written off and given up alike"
        ),
        invoices=overall.invoices,
        recovered=overall.recovered,
        recovery_rate=overall.recovery_rate,
        standings=overall.standings,
        failed_amount=overall.failed_amount,
        recovered_amount=overall.recovered_amount,
        amount_recovery_rate=amount_rates,
        without_amount=sum(1 for i in cohort if i.failed_amount is None),
        by_decline_class=[
            _group(name, classes[name]) for name in sorted(classes, key=_class_order)
        ],
        by_recovered_by=[
            _way(way, [i for i in recovered if i.standing == way], len(recovered), len(cohort))
            for way in RECOVERIES
        ],
        by_attempt=[
            _way(key, attempts[key], len(recovered), len(cohort))
            for key in sorted(attempts, key=_attempt_order)
        ],
        time_to_recover=percentiles(
            [i.recovered_seconds for i in recovered if i.recovered_seconds is not None]
        ),
        at_risk_invoices=len(at_risk),
        at_risk_amount=_amounts([(i.currency, i.failed_amount) for i in at_risk]),
    )
