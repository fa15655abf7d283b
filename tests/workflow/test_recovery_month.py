"""A seeded month of failed payments through the real RemediationWorkflow on the time-skipping
server, and the report's recovery section checked against numbers worked out by hand.

The seed (MONTH) is a fixed table: each row is one failure report (an invoice, when it failed,
its decline code, amount and currency) and what follows it — Stripe's answer to each payment
retry, and what the payer or a person does and when (pays on the hosted page, adds a new card,
presses Retry payment, dismisses it). The test drives it in time order, reads every run the way
``canary report`` does and computes the report with the same code, then compares the recovery
section with EXPECTED_* below, written from the table alone.

The time-skipping server keeps no custom search attributes (the remediations run with
``search_attributes=False``, as in the other workflow tests), so ``report_query`` cannot list
the runs: each run the test started is described and read by
``canary.reports.collect.read_runs`` (a running run's status query, a completed run's
ResolutionRecord), exactly as ``collect_facts`` reads what it lists, and ``compute_report``
computes the report from those facts, as ``build_report`` does.

Times: the month starts at a midnight UTC (the server's clock starts at the wall clock; the test
skips to the next midnight and a day). Day d at hh:mm is ``day(d, hh, mm)`` after it. Payers are
in UTC unless the row says otherwise; the soft plan retries on days 1, 3, 5 and 7 after the
first failure at 09:00 in the payer's timezone (the catalog's ``recovery:`` section).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    EnrichInput,
    EnrichOutput,
    ExternalEvent,
    RemediationConfig,
    RemediationInput,
    ResolutionRecord,
    StepInput,
    StepOutput,
)
from canary.reports.collect import read_runs
from canary.reports.compute import compute_report
from canary.reports.models import Recovery, ReportRequest
from tests.fakes import FakeServices
from workflows import RemediationWorkflow


def day(d: float, hour: int = 0, minute: int = 0) -> timedelta:
    return timedelta(days=d, hours=hour, minutes=minute)


#: What happens after a failure: the payer pays on Stripe's hosted invoice page (invoice.paid),
#: the payer adds a new card (card_updated), a person presses Retry payment, or Dismiss.
PAID, NEW_CARD, PERSON_RETRY, DISMISS = "paid", "new_card", "person_retry", "dismiss"


@dataclass(frozen=True)
class Failure:
    """One failure report of an invoice, and what follows it."""

    key: str  # this report's id (evt_<key>)
    at: timedelta  # after the month's start
    decline: str
    amount: int  # minor units
    currency: str = "usd"
    retries: tuple[bool, ...] = ()  # Stripe's answer to each payment retry; then declines
    then: tuple[tuple[timedelta, str], ...] = ()
    timezone: str | None = None
    already_paid: bool = False  # Stripe shows the invoice paid when Canary looks it up
    invoice: str = ""  # in_<key> unless given: an invoice can fail twice

    @property
    def invoice_id(self) -> str:
        return self.invoice or f"in_{self.key}"


Y, N = True, False  # Stripe's answer to a payment retry: collected, declined

# fmt: off
MONTH: tuple[Failure, ...] = (
    # Before the month: paid on the hosted page within hours; not in the denominator.
    Failure("m00", day(-1, 12), "insufficient_funds", 7_900, then=((day(0, 6), PAID),)),
    # Soft declines recovered by the plan's retries (days 1, 3, 5, 7 at 09:00).
    Failure("m01", day(0, 10), "insufficient_funds", 4_900, retries=(Y,)),
    Failure("m02", day(1, 6), "processing_error", 12_000, retries=(N, Y)),
    Failure("m03", day(2, 12), "try_again_later", 29_900, "eur", retries=(N, N, Y)),
    # In Tokyo: 10:00 UTC is 19:00 there; retry 1 is the next day 09:00 JST = 00:00 UTC.
    Failure("m04", day(3, 10), "insufficient_funds", 9_900, retries=(Y,), timezone="Asia/Tokyo"),
    # An expired card ($1,500: people alerted at once); the payer's new card collects (at
    # 07:00, clear of the escalation timer 24 hours after the failure).
    Failure("m05", day(4, 8), "expired_card", 150_000, retries=(Y,),
            then=((day(5, 7), NEW_CARD),)),
    # Soft: retry 1 (day 6 09:00) declines; a new card the next midnight collects.
    Failure("m06", day(5), "generic_decline", 19_900, retries=(N, Y), then=((day(7), NEW_CARD),)),
    # Paid on the hosted page before the first retry (day 7 09:00).
    Failure("m07", day(6, 9, 30), "insufficient_funds", 49_900, then=((day(6, 21, 30), PAID),)),
    # The bank wants the cardholder to authenticate: paid on the hosted page.
    Failure("m08", day(8), "authentication_required", 250_000, "eur", then=((day(9, 6), PAID),)),
    # $2,000: retry 1 (day 10 09:00) declines, a person's Retry payment that afternoon collects.
    Failure("m09", day(9, 12), "insufficient_funds", 200_000, retries=(N, Y),
            then=((day(10, 15), PERSON_RETRY),)),
    # Retry 1 (day 11 09:00) declines, a person dismisses it; the invoice fails again on day 15
    # and that remediation's retry 1 (day 16 09:00) collects: one invoice, recovered.
    Failure("m10", day(10), "insufficient_funds", 2_900, retries=(N,), then=((day(12), DISMISS),)),
    Failure("m10b", day(15), "insufficient_funds", 2_900, retries=(Y,), invoice="in_m10"),
    # Fraudulent: never retried; nobody resolves it and it expires (day 18).
    Failure("m11", day(11), "fraudulent", 99_000),
    # Every retry declines: the plan is exhausted by day 30 and it expires within 7 days.
    Failure("m12", day(2), "insufficient_funds", 5_900),
    # An expired card nobody replaces: dunned to day 21 of its plan, then expires (day 34).
    Failure("m13", day(12), "expired_card", 3_900),
    # A decline code Stripe may add later: the catalog's unknown_codes class (soft); retry 4.
    Failure("m14", day(14), "brand_new_decline", 14_900, retries=(N, N, N, Y)),
    # Retry 2 (day 19 09:00) collects.
    Failure("m17", day(16), "insufficient_funds", 24_900, "eur", retries=(N, Y)),
    # Stripe shows it paid when Canary looks: nothing to fix, no decline class, no way said.
    Failure("m18", day(20), "insufficient_funds", 3_000, already_paid=True),
    # A card that must change, dismissed the next day: written off. (At 02:00, not at 00:00
    # when its second escalation fires: a click that lands on the same millisecond as a timer
    # and closes the workflow makes the time-skipping server refuse the workflow task
    # ("invalid history builder state for action") and the click hangs.)
    Failure("m19", day(13), "incorrect_number", 2_500, then=((day(14, 2), DISMISS),)),
    # Late in the month, still being recovered when the report is made (day 45).
    Failure("m15", day(26), "insufficient_funds", 8_900),
    Failure("m16", day(28, 12), "expired_card", 60_000, "eur"),
)
# fmt: on

#: The report's window: the month's 30 days. It is made 45 days in.
WINDOW = (day(0), day(30))
REPORT_AT = day(45)

# -- worked out from MONTH by hand --------------------------------------------------------------
# In the window: every row but m00, the invoice in_m10 once: m01..m19 = 19 invoices.
#   scheduled_retry:   m01 (retry 1), m02 (2), m03 (3), m04 (1), in_m10 (1, its second run),
#                      m14 (4), m17 (2)                                   = 7
#   card_update_retry: m05, m06                                           = 2
#   hosted_page:       m07, m08                                           = 2
#   person_retry:      m09                                                = 1
#   open:              m15, m16                                           = 2
#   written_off:       m19                                                = 1
#   not_recovered:     m11 (hard, expired), m12 (plan exhausted), m13     = 3
#   unattributed:      m18                                                = 1
EXPECTED_STANDINGS = {
    "scheduled_retry": 7,
    "card_update_retry": 2,
    "hosted_page": 2,
    "person_retry": 1,
    "open": 2,
    "written_off": 1,
    "not_recovered": 3,
    "unattributed": 1,
}
# m01 m02 m04 m05 m06 m07 m09 in_m10 m11 m12 m13 m14 m18 m19 m15
USD_FAILED = (
    4_900 + 12_000 + 9_900 + 150_000 + 19_900 + 49_900 + 200_000 + 2_900 + 99_000 + 5_900
    + 3_900 + 14_900 + 3_000 + 2_500 + 8_900
)  # fmt: skip
EUR_FAILED = 29_900 + 250_000 + 24_900 + 60_000  # m03 m08 m17 m16
# m01 m02 m04 m05 m06 m07 m09 in_m10 m14
USD_RECOVERED = 4_900 + 12_000 + 9_900 + 150_000 + 19_900 + 49_900 + 200_000 + 2_900 + 14_900
EUR_RECOVERED = 29_900 + 250_000 + 24_900  # m03 m08 m17
HOUR = 3600
DAY = 24 * HOUR
#: Seconds from each recovered invoice's first failure to its recovery, sorted.
TIMES_TO_RECOVER = sorted(
    [
        23 * HOUR,  # m01: day 0 10:00 -> retry 1, day 1 09:00
        3 * DAY + 3 * HOUR,  # m02: day 1 06:00 -> retry 2, day 4 09:00
        4 * DAY + 21 * HOUR,  # m03: day 2 12:00 -> retry 3, day 7 09:00
        14 * HOUR,  # m04: day 3 10:00 -> retry 1, day 4 00:00 UTC (09:00 in Tokyo)
        23 * HOUR,  # m05: day 4 08:00 -> new card day 5 07:00
        2 * DAY,  # m06: day 5 00:00 -> new card day 7 00:00
        12 * HOUR,  # m07: day 6 09:30 -> paid day 6 21:30
        30 * HOUR,  # m08: day 8 00:00 -> paid day 9 06:00
        27 * HOUR,  # m09: day 9 12:00 -> a person's retry day 10 15:00
        6 * DAY + 9 * HOUR,  # in_m10: day 10 00:00 -> second run's retry 1, day 16 09:00
        7 * DAY + 9 * HOUR,  # m14: day 14 00:00 -> retry 4, day 21 09:00
        3 * DAY + 9 * HOUR,  # m17: day 16 00:00 -> retry 2, day 19 09:00
    ]
)
# 12 values, sorted: 43200 50400 82800 82800 97200 108000 | 172800 270000 291600 421200
# 550800 637200. stats.percentile interpolates between closest ranks (0-based): p50 sits at
# (12 - 1) * 0.5 = 5.5, between 108000 and 172800; p90 at (12 - 1) * 0.9 = 9.9, between
# 421200 and 550800.
P50 = 108_000 + (172_800 - 108_000) * 0.5  # 140400
P90 = 421_200 + (550_800 - 421_200) * 0.9  # 537840
#: The recovery times are workflow clock readings after a retry's activity answered, which the
#: server's clock lets run for the milliseconds it takes: equal to the second.
CLOCK_SLACK = 1.0


@dataclass
class SeededPayers(FakeServices):
    """FakeServices answering per failure report: Stripe's answer to each of its payment
    retries (from the row's ``retries``), and what its invoice lookup finds."""

    answers: dict[str, list[bool]] = field(default_factory=dict)  # detection id -> answers
    invoice_facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # invoice -> facts

    @activity.defn(name="canary.run_step")
    async def run_step(self, request: StepInput) -> StepOutput:
        if request.step.action == "stripe.retry_payment":
            # FakeServices pops its next answer from pay_results before it awaits anything,
            # so this report's own list is the one it pops from.
            self.pay_results = self.answers[str(request.detection.id)]
        return await super().run_step(request)

    @activity.defn(name="canary.enrich")
    async def enrich(self, request: EnrichInput) -> EnrichOutput:
        found = await super().enrich(request)
        if request.enricher == "stripe.invoice":
            found.facts.update(self.invoice_facts.get(request.detection.subject.id, {}))
        return found


def detection(failure: Failure, failed_at: datetime) -> Detection:
    return Detection(
        id=f"evt_{failure.key}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": failure.invoice_id},
        account={"name": f"Payer {failure.invoice_id}", "stripe_customer_id": f"cus_{failure.key}"},
        message="Your card was declined.",
        occurred_at=failed_at,
        facts={
            "event_type": "invoice.payment_failed",
            "decline_code": failure.decline,
            "amount_due": failure.amount,
            "currency": failure.currency,
        },
    )


def seeded_payers() -> SeededPayers:
    fake = SeededPayers(answers={f"evt_{f.key}": list(f.retries) for f in MONTH})
    for f in MONTH:
        facts: dict[str, Any] = {}
        if f.timezone:
            facts["customer_timezone"] = f.timezone
        if f.already_paid:
            facts["invoice_status"] = "paid"
        fake.invoice_facts[f.invoice_id] = facts
    return fake


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Skip the server's clock to ``moment``; two events at one moment run one after the
    other, without a (negative) skip between them."""
    ahead = moment - await env.get_current_time()
    if ahead > timedelta(0):
        await env.sleep(ahead)


async def run_month(env: WorkflowEnvironment, start: datetime, queue: str) -> list[tuple[str, str]]:
    """Drive MONTH in time order; the run ids of the remediations it started."""
    events: list[tuple[timedelta, int, str, Failure]] = []
    for order, failure in enumerate(MONTH):
        events.append((failure.at, order, "failed", failure))
        events += [(at, order, what, failure) for at, what in failure.then]
    runs: list[tuple[str, str]] = []
    for at, _, what, failure in sorted(events, key=lambda e: (e[0], e[1])):
        await skip_to(env, start + at)
        workflow_id = f"payment_failed:invoice:{failure.invoice_id}"
        if what == "failed":
            handle: WorkflowHandle[
                RemediationWorkflow, ResolutionRecord
            ] = await env.client.start_workflow(
                RemediationWorkflow.run,
                RemediationInput(
                    detection=detection(failure, start + at),
                    config=RemediationConfig(search_attributes=False),
                    signed_by_stripe=True,
                ),
                id=workflow_id,
                task_queue=queue,
            )
            assert handle.first_execution_run_id is not None
            runs.append((workflow_id, handle.first_execution_run_id))
            continue
        running = env.client.get_workflow_handle(workflow_id)
        if what in (PAID, NEW_CARD):
            await running.signal(
                RemediationWorkflow.external_event,
                ExternalEvent(
                    kind="invoice.paid" if what == PAID else "card_updated",
                    source="stripe",
                    event_id=f"evt_{what}_{failure.key}",
                    occurred_at=start + at,
                    evidence={"payment_method": f"pm_{failure.key}"} if what == NEW_CARD else {},
                ),
            )
        else:
            result = await running.execute_update(
                RemediationWorkflow.act,
                # A dismissal says why (the payment SOP's dismiss asks for a reason).
                ActionRequest.model_validate(
                    {"action": "retry", "user": "ops", "source": "cli"}
                    if what == PERSON_RETRY
                    else {
                        "action": "dismiss",
                        "user": "ops",
                        "source": "cli",
                        "reason": "Written off",
                    }
                ),
            )
            assert result.accepted, result.message
    await skip_to(env, start + REPORT_AT)
    return runs


@pytest.mark.asyncio
async def test_a_seeded_month_of_failures_reports_the_numbers_worked_out_by_hand(
    skip_env: WorkflowEnvironment,
) -> None:
    now = await skip_env.get_current_time()
    midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    start = midnight + timedelta(days=2)  # m00 fails the day before, still ahead of the clock
    fake = seeded_payers()
    queue = f"month-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=[*fake.all(), *fake.alerting()],
    ):
        runs = await run_month(skip_env, start, queue)
        executions = [
            await skip_env.client.get_workflow_handle(workflow_id, run_id=run_id).describe()
            for workflow_id, run_id in runs
        ]
        facts = await read_runs(skip_env.client, executions)
    request = ReportRequest(since=start + WINDOW[0], until=start + WINDOW[1])
    report = compute_report(
        request,
        facts,
        namespace="default",
        temporal_ui_url="http://localhost:8233",
        generated_at=start + REPORT_AT,
    )
    assert [f.read_error for f in facts if f.read_error] == []
    recovery: Recovery = report.recovery

    # The denominator: invoices whose first failure fell in the window, each once.
    assert recovery.invoices == 19 and recovery.recovered == 7 + 2 + 2 + 1
    assert recovery.denominator.startswith("19 invoices whose first payment failure")
    assert recovery.recovery_rate == round(12 / 19, 4)
    assert recovery.standings == EXPECTED_STANDINGS
    assert recovery.failed_amount == {"eur": EUR_FAILED, "usd": USD_FAILED}
    assert recovery.recovered_amount == {"eur": EUR_RECOVERED, "usd": USD_RECOVERED}
    assert recovery.amount_recovery_rate == {
        "eur": round(EUR_RECOVERED / EUR_FAILED, 4),
        "usd": round(USD_RECOVERED / USD_FAILED, 4),
    }
    assert recovery.without_amount == 0

    # By decline class: soft m01 m02 m03 m04 m06 m07 m09 in_m10 m12 m14 m15 m17 (the unknown
    # code of m14 is soft by the catalog's unknown_codes); card_must_change m05 m08 m13 m16 m19;
    # hard m11; unclassified m18 (nothing to fix, so no class).
    classes = {g.key: g for g in recovery.by_decline_class}
    assert list(classes) == ["soft", "card_must_change", "hard", "unclassified"]
    soft, card, hard, unclassified = classes.values()
    assert (soft.invoices, soft.recovered, soft.recovery_rate) == (12, 10, round(10 / 12, 4))
    assert {k: v for k, v in soft.standings.items() if v} == {
        "scheduled_retry": 7,  # m01 m02 m03 m04 in_m10 m14 m17
        "card_update_retry": 1,  # m06
        "hosted_page": 1,  # m07
        "person_retry": 1,  # m09
        "open": 1,  # m15
        "not_recovered": 1,  # m12
    }
    assert soft.failed_amount == {
        "eur": 29_900 + 24_900,
        "usd": 4_900 + 12_000 + 9_900 + 19_900 + 49_900 + 200_000 + 2_900 + 5_900 + 14_900 + 8_900,
    }
    assert soft.recovered_amount == {
        "eur": 29_900 + 24_900,
        "usd": 4_900 + 12_000 + 9_900 + 19_900 + 49_900 + 200_000 + 2_900 + 14_900,
    }
    assert (card.invoices, card.recovered, card.recovery_rate) == (5, 2, round(2 / 5, 4))
    assert {k: v for k, v in card.standings.items() if v} == {
        "card_update_retry": 1,  # m05
        "hosted_page": 1,  # m08
        "open": 1,  # m16
        "written_off": 1,  # m19
        "not_recovered": 1,  # m13
    }
    assert card.failed_amount == {"eur": 250_000 + 60_000, "usd": 150_000 + 3_900 + 2_500}
    assert card.recovered_amount == {"eur": 250_000, "usd": 150_000}
    assert (hard.invoices, hard.recovered, hard.recovery_rate) == (1, 0, 0.0)
    assert {k: v for k, v in hard.standings.items() if v} == {"not_recovered": 1}
    assert hard.failed_amount == {"usd": 99_000} and hard.recovered_amount == {}
    assert (unclassified.invoices, unclassified.recovered) == (1, 0)
    assert {k: v for k, v in unclassified.standings.items() if v} == {"unattributed": 1}
    assert unclassified.failed_amount == {"usd": 3_000}

    # By what recovered it, and which scheduled retry: shares of the 12 recovered and the
    # 19 failed.
    ways = {
        w.key: (w.recovered, w.share_of_recoveries, w.share_of_failures, w.recovered_amount)
        for w in recovery.by_recovered_by
    }
    assert ways == {
        "scheduled_retry": (
            7,
            round(7 / 12, 4),
            round(7 / 19, 4),
            {"eur": 29_900 + 24_900, "usd": 4_900 + 12_000 + 9_900 + 2_900 + 14_900},
        ),
        "card_update_retry": (2, round(2 / 12, 4), round(2 / 19, 4), {"usd": 150_000 + 19_900}),
        "hosted_page": (
            2,
            round(2 / 12, 4),
            round(2 / 19, 4),
            {"eur": 250_000, "usd": 49_900},
        ),
        "person_retry": (1, round(1 / 12, 4), round(1 / 19, 4), {"usd": 200_000}),
    }
    attempts = {a.key: (a.recovered, a.recovered_amount) for a in recovery.by_attempt}
    assert attempts == {
        "1": (3, {"usd": 4_900 + 9_900 + 2_900}),  # m01 m04 in_m10
        "2": (2, {"eur": 24_900, "usd": 12_000}),  # m17 m02
        "3": (1, {"eur": 29_900}),  # m03
        "4": (1, {"usd": 14_900}),  # m14
    }
    assert [a.share_of_recoveries for a in recovery.by_attempt] == [
        round(3 / 12, 4),
        round(2 / 12, 4),
        round(1 / 12, 4),
        round(1 / 12, 4),
    ]

    # Time to recover, from each invoice's first failure.
    assert TIMES_TO_RECOVER == [
        43_200, 50_400, 82_800, 82_800, 97_200, 108_000,
        172_800, 270_000, 291_600, 421_200, 550_800, 637_200,
    ]  # fmt: skip
    assert recovery.time_to_recover.count == len(TIMES_TO_RECOVER) == 12
    assert recovery.time_to_recover.p50 == pytest.approx(P50, abs=CLOCK_SLACK)
    assert recovery.time_to_recover.p90 == pytest.approx(P90, abs=CLOCK_SLACK)

    # Still at risk: the open invoices m15 and m16.
    assert recovery.at_risk_invoices == 2
    assert recovery.at_risk_amount == {"eur": 60_000, "usd": 8_900}

    # What the fake Stripe was asked: one payment retry per answer the seed gave, and none
    # after the payment (m12's and m15's plans are declined throughout, however many).
    retried: dict[str, int] = defaultdict(int)
    for step in fake.steps:
        if step.step.action == "stripe.retry_payment":
            retried[str(step.detection.id)] += 1
    for failure in MONTH:
        if failure.key not in ("m12", "m15"):
            assert retried[f"evt_{failure.key}"] == len(failure.retries), failure.key
