"""Retry plans (canary.recovery.plans): decline classes, the schedule in the payer's time, the
window and the network cap, as worked examples and as properties over any plan, timezone and
first failure."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.catalog import CatalogError, load_catalog
from canary.recovery import stripe_declines
from canary.recovery.plans import (
    CAP_SPAN,
    DECLINE_CLASSES,
    RecoveryCatalog,
    RetryPlan,
    describe_next,
    next_retry,
    planned_attempts,
)
from canary.recovery.timezones import known_timezone, zone_of

CATALOG = RecoveryCatalog()
SOFT = CATALOG.plan_for("soft")


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# -- classes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("insufficient_funds", "soft"),
        ("processing_error", "soft"),
        ("generic_decline", "soft"),
        ("try_again_later", "soft"),
        ("expired_card", "card_must_change"),
        ("incorrect_number", "card_must_change"),
        ("incorrect_cvc", "card_must_change"),
        ("invalid_expiry_month", "card_must_change"),
        ("invalid_expiry_year", "card_must_change"),
        ("authentication_required", "card_must_change"),
        ("fraudulent", "hard"),
        ("stolen_card", "hard"),
        ("lost_card", "hard"),
        ("pickup_card", "hard"),
        ("do_not_honor", "hard"),
        ("do_not_try_again", "hard"),
        ("merchant_blacklist", "hard"),
        ("restricted_card", "hard"),
        ("Expired_Card ", "card_must_change"),
        ("a_code_stripe_adds_next_year", "soft"),
        ("", "soft"),
        (None, "soft"),
    ],
)
def test_decline_codes_fall_in_their_class(code: str | None, expected: str) -> None:
    assert CATALOG.classify(code) == expected


def test_every_documented_code_is_in_exactly_one_class() -> None:
    lists = [stripe_declines.SOFT, stripe_declines.CARD_MUST_CHANGE, stripe_declines.HARD]
    every = [code for codes in lists for code in codes]
    assert len(every) == len(set(every))
    for name, codes in zip(DECLINE_CLASSES, lists, strict=True):
        assert all(CATALOG.classify(code) == name for code in codes)


def test_unknown_codes_may_fall_elsewhere_and_classes_are_checked() -> None:
    cautious = RecoveryCatalog.model_validate({"unknown_codes": "card_must_change"})
    assert cautious.classify("brand_new_code") == "card_must_change"
    assert cautious.classify("insufficient_funds") == "soft"
    with pytest.raises(ValidationError, match="'do_not_honor' is in both soft and hard"):
        RecoveryCatalog.model_validate(
            {"classes": {"soft": ["insufficient_funds", "do_not_honor"]}}
        )
    with pytest.raises(ValidationError, match="not a decline code"):
        RecoveryCatalog.model_validate({"classes": {"hard": ["Fraud Suspected"]}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        RecoveryCatalog.model_validate({"classes": {"maybe": ["x"]}})


def test_only_soft_declines_are_scheduled() -> None:
    assert SOFT.scheduled and SOFT.retry_on_new_card
    card = CATALOG.plan_for("card_must_change")
    hard = CATALOG.plan_for("hard")
    assert not card.scheduled and card.retry_on_new_card
    assert not hard.scheduled and not hard.retry_on_new_card
    first = utc(2026, 1, 1, 15)
    for plan in (card, hard):
        assert planned_attempts(plan, first, "Europe/Paris") == []
        assert next_retry(plan, first, [], "Europe/Paris", first) is None
    assert SOFT.describe() == (
        "retried on day 1, 3, 5 and 7 after the failure, then on paydays (the 1st and 15th) "
        "at 09:00 the payer's time, within 28 days, at most 8 in 30 days"
    )
    assert card.describe() == "retried once when the customer adds a new card"
    assert hard.describe() == "never retried"


# -- worked examples ----------------------------------------------------------------------------


def test_new_york_payer_is_retried_at_nine_their_time() -> None:
    # Thursday 1 January 2026, 10:00 in New York (EST, UTC-5).
    first = utc(2026, 1, 1, 15)
    schedule = planned_attempts(SOFT, first, "America/New_York")
    # Days 1, 3, 5, 7 at 09:00 EST, then the 15th; the 1st of February is past the 28 days.
    assert schedule == [
        utc(2026, 1, 2, 14),
        utc(2026, 1, 4, 14),
        utc(2026, 1, 6, 14),
        utc(2026, 1, 8, 14),
        utc(2026, 1, 15, 14),
    ]
    assert describe_next(schedule[2], 3, len(schedule), "America/New_York") == (
        "next retry Tue 6 Jan 14:00 UTC (Tue 6 Jan 09:00 America/New_York), attempt 3 of 5"
    )


def test_a_failure_late_in_the_month_reaches_both_paydays() -> None:
    first = utc(2026, 1, 20, 12)
    schedule = planned_attempts(SOFT, first, None)
    assert schedule == [
        utc(2026, 1, 21, 9),
        utc(2026, 1, 23, 9),
        utc(2026, 1, 25, 9),
        utc(2026, 1, 27, 9),
        utc(2026, 2, 1, 9),
        utc(2026, 2, 15, 9),
    ]
    assert (
        describe_next(schedule[2], 3, 6, None) == "next retry Sun 25 Jan 09:00 UTC, attempt 3 of 6"
    )


def test_the_local_day_decides_and_the_local_hour_holds_across_a_clock_change() -> None:
    # 21:00 in Tokyo on 20 January: day 1 there is the 21st, 09:00 JST = 00:00 UTC.
    assert planned_attempts(SOFT, utc(2026, 1, 20, 12), "Asia/Tokyo")[0] == utc(2026, 1, 21, 0)
    # New York moves to EDT on Sunday 8 March 2026: 09:00 stays 09:00 local.
    schedule = planned_attempts(SOFT, utc(2026, 3, 5, 15), "America/New_York")
    assert schedule[:2] == [utc(2026, 3, 6, 14), utc(2026, 3, 8, 13)]
    assert describe_next(schedule[1], 2, len(schedule), "America/New_York") == (
        "next retry Sun 8 Mar 13:00 UTC (Sun 8 Mar 09:00 America/New_York), attempt 2 of 6"
    )


def test_an_unknown_timezone_is_utc() -> None:
    first = utc(2026, 1, 20, 12)
    expected = planned_attempts(SOFT, first, "UTC")
    for name in (None, "Mars/Olympus_Mons", "../../etc/passwd", "localtime", "", "Etc/UTC"):
        assert planned_attempts(SOFT, first, name) == expected
        assert describe_next(expected[0], 1, 6, name) == (
            "next retry Wed 21 Jan 09:00 UTC, attempt 1 of 6"
        )


def test_retries_by_hand_count_and_passed_slots_are_not_made_up() -> None:
    first = utc(2026, 1, 20, 12)
    # Nothing done yet: the first slot.
    assert next_retry(SOFT, first, [], None, first) == utc(2026, 1, 21, 9)
    # The worker was away on the 21st: the next slot after now, not the missed one.
    assert next_retry(SOFT, first, [], None, utc(2026, 1, 22)) == utc(2026, 1, 23, 9)
    # A person retried after the day-3 slot's time: after their retry comes day 5.
    assert next_retry(SOFT, first, [utc(2026, 1, 23, 10)], None, utc(2026, 1, 23, 9)) == utc(
        2026, 1, 25, 9
    )
    # Eight retries by hand on the first day fill the 30 days: nothing more in the window.
    by_hand = [utc(2026, 1, 20, 13) + timedelta(minutes=m) for m in range(8)]
    assert next_retry(SOFT, first, by_hand, None, utc(2026, 1, 20, 14)) is None
    # Seven leave room for one, the first slot.
    assert next_retry(SOFT, first, by_hand[:7], None, utc(2026, 1, 20, 14)) == utc(2026, 1, 21, 9)
    made = [*by_hand[:7], utc(2026, 1, 21, 9)]
    assert next_retry(SOFT, first, made, None, utc(2026, 1, 21, 9)) is None
    # After the window, nothing.
    assert next_retry(SOFT, first, [], None, utc(2026, 2, 17, 12)) is None


def test_the_cap_skips_slots_until_earlier_retries_leave_the_thirty_days() -> None:
    plan = RetryPlan(
        days=(1, 2, 3, 4, 31, 32, 33, 34), window=timedelta(days=40), max_per_30_days=3
    )
    first = utc(2026, 1, 1, 12)
    nine = [utc(2026, 1, 1, 9) + timedelta(days=d) for d in (1, 2, 3, 31, 32, 33)]
    # Day 4 would be the fourth in 30 days; day 31 is exactly 30 days after day 1, which has
    # left the span by then, and so on.
    assert planned_attempts(plan, first, None) == nine


def test_retries_after_spans_come_first_within_the_window_and_the_cap() -> None:
    plan = RetryPlan(
        after=(timedelta(hours=1), timedelta(hours=6)), days=(1, 3, 5), max_per_30_days=4
    )
    first = utc(2026, 1, 20, 12)
    # An hour and six hours after the failure, then day 1 and day 3; day 5 is a fifth.
    assert planned_attempts(plan, first, None) == [
        utc(2026, 1, 20, 13),
        utc(2026, 1, 20, 18),
        utc(2026, 1, 21, 9),
        utc(2026, 1, 23, 9),
    ]
    # The spans count from the failure in UTC whatever the payer's timezone.
    assert planned_attempts(plan, first, "Asia/Tokyo")[:2] == [
        utc(2026, 1, 20, 13),
        utc(2026, 1, 20, 18),
    ]
    # A retry by hand after the first span: the six-hour one is next, and it counts.
    assert next_retry(plan, first, [utc(2026, 1, 20, 14)], None, utc(2026, 1, 20, 14)) == utc(
        2026, 1, 20, 18
    )
    # Three by hand leave room for one more in the 30 days: the six-hour retry, then nothing.
    by_hand = [utc(2026, 1, 20, 14), utc(2026, 1, 20, 15), utc(2026, 1, 20, 16)]
    assert next_retry(plan, first, by_hand, None, utc(2026, 1, 20, 16)) == utc(2026, 1, 20, 18)
    made = [*by_hand, utc(2026, 1, 20, 18)]
    assert next_retry(plan, first, made, None, utc(2026, 1, 20, 18)) is None
    seconds = RetryPlan.model_validate({"after": ["PT20S", "PT40S", "PT1M"], "window": "PT1H"})
    assert seconds.scheduled and seconds.after == (
        timedelta(seconds=20),
        timedelta(seconds=40),
        timedelta(minutes=1),
    )
    assert planned_attempts(seconds, first, "America/New_York") == [
        first + timedelta(seconds=20),
        first + timedelta(seconds=40),
        first + timedelta(minutes=1),
    ]
    assert seconds.describe() == (
        "retried 20 seconds, 40 seconds and 1 minute after the failure, within 1 hour, "
        "at most 8 in 30 days"
    )
    assert plan.describe() == (
        "retried 1 hour and 6 hours after the failure, on day 1, 3 and 5 at 09:00 the payer's "
        "time, within 28 days, at most 4 in 30 days"
    )
    both = RetryPlan(after=(timedelta(days=1, hours=12),), paydays=(1,), window=timedelta(hours=36))
    assert both.describe() == (
        "retried 1 day 12 hours after the failure, then on paydays (the 1st) at 09:00 the "
        "payer's time, within 1 day 12 hours, at most 8 in 30 days"
    )


def test_naive_times_are_read_as_utc() -> None:
    naive = datetime(2026, 1, 20, 12)
    assert planned_attempts(SOFT, naive, None) == planned_attempts(SOFT, utc(2026, 1, 20, 12), None)
    assert next_retry(SOFT, naive, [], None, naive) == utc(2026, 1, 21, 9)


def test_plans_are_checked_when_the_catalog_loads() -> None:
    with pytest.raises(ValidationError, match='quoted, as "09:00"'):
        RetryPlan.model_validate({"days": [1], "local_time": 540})  # YAML's 9:00
    assert RetryPlan.model_validate({"days": [1], "local_time": "07:30"}).local_time == time(7, 30)
    with pytest.raises(ValidationError, match="less than or equal to 15"):
        RetryPlan(days=(1,), max_per_30_days=16)
    with pytest.raises(ValidationError, match="past the window"):
        RetryPlan(days=(1, 40), window=timedelta(days=28))
    with pytest.raises(ValidationError, match="increasing whole days"):
        RetryPlan(days=(3, 1))
    with pytest.raises(ValidationError, match="days of the month from 1 to 28"):
        RetryPlan(paydays=(1, 31))
    with pytest.raises(ValidationError, match="between 1 hour and 366 days"):
        RetryPlan(paydays=(1,), window=timedelta(days=400))
    with pytest.raises(ValidationError, match="Extra inputs"):
        RetryPlan.model_validate({"dayz": [1]})
    for after in (["PT6H", "PT1H"], ["PT1H", "PT1H"], ["PT0S"], ["-PT1H"], ["PT0.5S"]):
        with pytest.raises(ValidationError, match="increasing durations of a second or more"):
            RetryPlan.model_validate({"after": after})
    with pytest.raises(ValidationError, match="past the window"):
        RetryPlan.model_validate({"after": ["PT1H", "P3D"], "window": "P2D"})
    assert RetryPlan.model_validate({"after": ["P2D"], "window": "P2D"}).after == (
        timedelta(days=2),
    )


def test_timezones_must_be_names_zoneinfo_knows() -> None:
    assert known_timezone("Europe/Paris") == "Europe/Paris"
    assert known_timezone("America/Argentina/Buenos_Aires") == "America/Argentina/Buenos_Aires"
    for bad in (
        "Europe/Atlantis",
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posixrules",
        "right/UTC",
        "Factory",
        "x" * 100,
        3,
        None,
    ):
        assert known_timezone(bad) is None
        assert zone_of(bad if isinstance(bad, str) else None) is UTC


# -- the catalog's recovery section ------------------------------------------------------------

UNKNOWN_SOP = (
    "  - type: unknown\n    title: U\n    message: {headline: h, what_happened: w, what_to_do: d}\n"
)


def catalog_file(folder: Path, name: str, extra: str = "") -> Path:
    path = folder / name
    path.write_text(
        f"version: '{path.stem}'\nsops:\n{UNKNOWN_SOP if name == 'a.yaml' else ''}{extra}"
    )
    return path


def test_the_default_catalog_spells_out_the_defaults() -> None:
    catalog = load_catalog()
    assert catalog.recovery == RecoveryCatalog()
    assert catalog.recovery.classify("insufficient_funds") == "soft"
    assert catalog.recovery.plan_for("soft").days == (1, 3, 5, 7)
    assert catalog.recovery.plan_for("soft").paydays == (1, 15)
    assert catalog.recovery.plan_for("soft").local_time == time(9, 0)


def test_a_catalog_without_a_recovery_section_gets_the_defaults(tmp_path: Path) -> None:
    assert load_catalog(catalog_file(tmp_path, "a.yaml")).recovery == RecoveryCatalog()


def test_a_recovery_section_is_validated_when_the_catalog_loads(tmp_path: Path) -> None:
    own = load_catalog(
        catalog_file(
            tmp_path,
            "a.yaml",
            "recovery:\n  plans:\n    soft: {days: [2], local_time: '07:30', window: P10D}\n",
        )
    )
    assert own.recovery.plan_for("soft") == RetryPlan(
        days=(2,), local_time=time(7, 30), window=timedelta(days=10)
    )
    assert own.recovery.plan_for("hard") == RecoveryCatalog().plan_for("hard")
    unquoted = catalog_file(
        tmp_path, "a.yaml", "recovery:\n  plans:\n    soft: {local_time: 9:00}\n"
    )
    with pytest.raises(CatalogError, match=r"recovery\.plans\.soft\.local_time[\s\S]*quoted"):
        load_catalog(unquoted)
    greedy = catalog_file(
        tmp_path, "a.yaml", "recovery:\n  plans:\n    soft: {max_per_30_days: 20}\n"
    )
    with pytest.raises(CatalogError, match=r"recovery\.plans\.soft\.max_per_30_days"):
        load_catalog(greedy)
    misspelt = catalog_file(tmp_path, "a.yaml", "recovry:\n  plans: {}\n")
    with pytest.raises(CatalogError, match="unknown top-level key 'recovry'"):
        load_catalog(misspelt)


def test_one_file_of_a_folder_gives_the_recovery_section(tmp_path: Path) -> None:
    catalog_file(tmp_path, "a.yaml", "recovery:\n  unknown_codes: hard\n")
    catalog_file(tmp_path, "b.yaml")
    assert load_catalog(tmp_path).recovery.classify("brand_new_code") == "hard"
    catalog_file(tmp_path, "b.yaml", "recovery:\n  unknown_codes: soft\n")
    with pytest.raises(CatalogError, match="a.yaml already gives the catalog's 'recovery'"):
        load_catalog(tmp_path)


# -- properties ---------------------------------------------------------------------------------

ZONES = sorted(zoneinfo.available_timezones())

plans = st.builds(
    lambda after, days, paydays, at, window_days, cap: RetryPlan(
        after=tuple(timedelta(minutes=m) for m in after if m <= window_days * 24 * 60),
        days=tuple(d for d in days if d <= window_days),
        paydays=tuple(paydays),
        local_time=at,
        window=timedelta(days=window_days),
        max_per_30_days=cap,
    ),
    st.lists(st.integers(1, 75 * 24 * 60), max_size=6, unique=True).map(sorted),
    st.lists(st.integers(0, 70), max_size=12, unique=True).map(sorted),
    st.lists(st.integers(1, 28), max_size=6, unique=True).map(sorted),
    st.times(),
    st.integers(1, 75),
    st.integers(1, 15),
)
moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
)
timezones = st.one_of(st.none(), st.sampled_from(ZONES), st.just("Not/AZone"))


def _in_span(times: list[datetime], at: datetime) -> int:
    return sum(1 for t in times if at - CAP_SPAN < t <= at)


def _on_the_plans_calendar(
    plan: RetryPlan, first: datetime, timezone: str | None, at: datetime
) -> bool:
    """Whether ``at`` is one of the plan's spans after the failure, one of its days after the
    failure or a payday after them in the payer's calendar."""
    if at - first in plan.after:
        return True
    zone = zone_of(timezone)
    start = first.astimezone(zone).date()
    local = at.astimezone(zone).date()
    if local in {start + timedelta(days=d) for d in plan.days}:
        return True
    return local.day in plan.paydays and local > start + timedelta(
        days=plan.days[-1] if plan.days else 0
    )


@settings(max_examples=300, deadline=None)
@given(plans, moments, timezones)
def test_the_schedule_keeps_the_window_the_cap_and_the_local_calendar(
    plan: RetryPlan, first: datetime, timezone: str | None
) -> None:
    schedule = planned_attempts(plan, first, timezone)
    assert all(a < b for a, b in zip(schedule, schedule[1:], strict=False))  # strictly increasing
    assert all(first < at <= first + plan.window for at in schedule)  # never past the window
    assert all(_in_span(schedule, at) <= plan.max_per_30_days for at in schedule)  # the cap
    assert all(_on_the_plans_calendar(plan, first, timezone, at) for at in schedule)
    if plan.paydays and not plan.days and plan.window >= timedelta(days=31):
        assert schedule  # every day of the month comes round within 31 days


@settings(max_examples=200, deadline=None)
@given(plans, moments, timezones)
def test_following_next_retry_from_the_start_is_the_planned_schedule(
    plan: RetryPlan, first: datetime, timezone: str | None
) -> None:
    made: list[datetime] = []
    while (at := next_retry(plan, first, made, timezone, made[-1] if made else first)) is not None:
        made.append(at)
        assert len(made) <= 400
    assert made == planned_attempts(plan, first, timezone)


@settings(max_examples=300, deadline=None)
@given(
    plans,
    moments,
    timezones,
    st.lists(st.integers(0, 80 * 24 * 60), max_size=20),
    st.integers(-2 * 24 * 60, 80 * 24 * 60),
)
def test_next_retry_is_after_now_and_every_attempt_and_within_the_window_and_the_cap(
    plan: RetryPlan,
    first: datetime,
    timezone: str | None,
    by_hand: list[int],
    now_minutes: int,
) -> None:
    attempts = [first + timedelta(minutes=m) for m in by_hand]
    now = first + timedelta(minutes=now_minutes)
    at = next_retry(plan, first, attempts, timezone, now)
    if at is None:
        return
    assert at > now and all(at > a for a in attempts)
    assert first < at <= first + plan.window
    assert _in_span([*attempts, at], at) <= plan.max_per_30_days
    assert _on_the_plans_calendar(plan, first, timezone, at)
