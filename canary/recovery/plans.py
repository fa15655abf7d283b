"""Retry plans: which class a decline code falls in, and when its payment is retried.

Pure and deterministic (no I/O but zoneinfo's database, no clock, no Temporal), so workflow
code calls it directly (imported passed through the sandbox, see ``timezones``). The catalog's
``recovery:`` section validates into :class:`RecoveryCatalog`, a remediation takes the
:class:`RetryPlan` of its decline's class, and :func:`next_retry` says when to retry next,
given what was tried already.

Times are returned in UTC. A naive datetime given in is read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from canary.recovery import stripe_declines
from canary.recovery.timezones import UTC_NAMES, known_timezone, zone_of

DeclineClass = Literal["soft", "card_must_change", "hard"]

DECLINE_CLASSES: tuple[DeclineClass, ...] = ("soft", "card_must_change", "hard")

#: Visa allows about 15 retries of one payment in 30 days: no plan may ask for more.
NETWORK_RETRY_LIMIT = 15

#: The span the per-30-days cap counts over: 30 × 24 hours, ending at the attempt.
CAP_SPAN = timedelta(days=30)

_CODE = re.compile(r"[a-z0-9_]+")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class RetryPlan(BaseModel):
    """When one decline class is retried. A plan without ``after``, ``days`` and ``paydays``
    schedules nothing: it waits for a new card (``retry_on_new_card``) or for nothing at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: tuple[timedelta, ...] = Field(
        (),
        description="Retry this long after the first failure (ISO 8601 durations, as PT1H), "
        "besides the days and paydays; counted against the window and the cap like them.",
    )
    days: tuple[int, ...] = Field(
        (),
        description="Retry on these days after the first failure (day 1 is the payer's next "
        "calendar day), at local_time.",
    )
    paydays: tuple[int, ...] = Field(
        (),
        description="After the last of 'days', retry on these days of the month (1-28) in "
        "the payer's timezone, at local_time, until the window closes.",
    )
    local_time: time = Field(time(9, 0), description="The payer's local time of each retry.")
    window: timedelta = Field(
        timedelta(days=28), description="No retry later than this after the first failure."
    )
    max_per_30_days: int = Field(
        8,
        ge=1,
        le=NETWORK_RETRY_LIMIT,
        description="At most this many retries (scheduled or by hand) in any 30 days.",
    )
    retry_on_new_card: bool = Field(
        True, description="A new card on the customer is worth one retry at once."
    )

    @property
    def scheduled(self) -> bool:
        """Whether this plan retries on a schedule at all."""
        return bool(self.after or self.days or self.paydays)

    @field_validator("local_time", mode="before")
    @classmethod
    def _time_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 9:00 as the number 540, which would mean 00:09:00.
        if isinstance(value, int | float):
            raise ValueError('write the local time quoted, as "09:00"')
        return value

    @model_validator(mode="after")
    def _check(self) -> RetryPlan:
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time is the payer's local time: give it without an offset")
        if not timedelta(hours=1) <= self.window <= timedelta(days=366):
            raise ValueError("window must be between 1 hour and 366 days")
        if list(self.after) != sorted(set(self.after)) or any(
            span < timedelta(seconds=1) for span in self.after
        ):
            raise ValueError("after must be increasing durations of a second or more")
        if self.after and self.after[-1] > self.window:
            raise ValueError(f"after {self.after[-1]} is past the window ({self.window})")
        if list(self.days) != sorted(set(self.days)) or any(d < 0 for d in self.days):
            raise ValueError("days must be increasing whole days from 0")
        if self.days and timedelta(days=self.days[-1] - 1) > self.window:
            raise ValueError(f"day {self.days[-1]} is past the window ({self.window})")
        if list(self.paydays) != sorted(set(self.paydays)) or any(
            not 1 <= d <= 28 for d in self.paydays
        ):
            raise ValueError("paydays must be increasing days of the month from 1 to 28")
        return self

    def describe(self) -> str:
        """The plan in words, for messages and the docs."""
        if not self.scheduled:
            if self.retry_on_new_card:
                return "retried once when the customer adds a new card"
            return "never retried"
        parts = []
        if self.after:
            parts.append(_and(_duration(span) for span in self.after) + " after the failure")
        if self.days:
            days = "day " + _and(str(d) for d in self.days)
            parts.append(f"on {days}" if parts else f"on {days} after the failure")
        if self.paydays:
            paydays = "paydays (the " + _and(_ordinal(d) for d in self.paydays) + ")"
            parts.append(("then on " if parts else "on ") + paydays)
        if self.days or self.paydays:
            parts[-1] += f" at {self.local_time:%H:%M} the payer's time"
        return (
            f"retried {', '.join(parts)}, within {_duration(self.window)}, "
            f"at most {self.max_per_30_days} in 30 days"
        )


class DeclineClasses(BaseModel):
    """The decline codes of each class. A class left out keeps Stripe's codes for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    soft: tuple[str, ...] = stripe_declines.SOFT
    card_must_change: tuple[str, ...] = stripe_declines.CARD_MUST_CHANGE
    hard: tuple[str, ...] = stripe_declines.HARD

    @model_validator(mode="after")
    def _each_code_once(self) -> DeclineClasses:
        seen: dict[str, str] = {}
        for name in DECLINE_CLASSES:
            for code in getattr(self, name):
                if not _CODE.fullmatch(code):
                    raise ValueError(f"{name}: {code!r} is not a decline code (a-z, 0-9, _)")
                if code in seen:
                    raise ValueError(f"decline code {code!r} is in both {seen[code]} and {name}")
                seen[code] = name
        return self


def _soft_plan() -> RetryPlan:
    return RetryPlan(days=(1, 3, 5, 7), paydays=(1, 15))


class RecoveryPlans(BaseModel):
    """The plan of each class. A plan given is taken whole: its fields left out take the
    field defaults, not the default plan's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    soft: RetryPlan = Field(default_factory=_soft_plan)
    card_must_change: RetryPlan = RetryPlan(retry_on_new_card=True)
    hard: RetryPlan = RetryPlan(retry_on_new_card=False)


class RecoveryCatalog(BaseModel):
    """The catalog's ``recovery:`` section: decline codes by class, and each class's plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unknown_codes: DeclineClass = Field(
        "soft", description="The class of a decline code no class lists, and of no code."
    )
    classes: DeclineClasses = DeclineClasses()
    plans: RecoveryPlans = RecoveryPlans()

    def classify(self, decline_code: str | None) -> DeclineClass:
        """The class of a Stripe decline code; unknown codes and none fall to
        ``unknown_codes``."""
        code = (decline_code or "").strip().lower()
        for name in DECLINE_CLASSES:
            if code in getattr(self.classes, name):
                return name
        return self.unknown_codes

    def plan_for(self, decline_class: DeclineClass) -> RetryPlan:
        plan: RetryPlan = getattr(self.plans, decline_class)
        return plan


def planned_attempts(
    plan: RetryPlan, first_failed_at: datetime, timezone: str | None
) -> list[datetime]:
    """The plan's whole schedule from the first failure, with no retry by hand: every retry
    it would make, in order (its length is the "of 6" in "attempt 3 of 6")."""
    first = _utc(first_failed_at)
    taken: list[datetime] = []
    for at in _slots(plan, first, zone_of(timezone)):
        if _within_cap(at, taken, plan.max_per_30_days):
            taken.append(at)
    return taken


def next_retry(
    plan: RetryPlan,
    first_failed_at: datetime,
    attempts: list[datetime],
    timezone: str | None,
    now: datetime,
) -> datetime | None:
    """The next retry the plan makes strictly after ``now`` and after the last of
    ``attempts`` (the retries made so far, scheduled or by hand), keeping at most
    ``max_per_30_days`` in any 30 days; None when the plan has nothing left in its window.

    A slot that has passed is not made up for, and one that would break the cap is skipped."""
    first = _utc(first_failed_at)
    done = sorted(_utc(a) for a in attempts)
    after = max([_utc(now), *done[-1:]])
    for at in _slots(plan, first, zone_of(timezone)):
        if at > after and _within_cap(at, done, plan.max_per_30_days):
            return at
    return None


def describe_next(at: datetime, number: int, total: int, timezone: str | None) -> str:
    """The next retry in words, in UTC and (when their timezone is not UTC) the payer's time:
    "next retry Thu 1 Jan 14:00 UTC (Thu 1 Jan 09:00 America/New_York), attempt 3 of 6"."""
    when = _utc(at)
    text = f"next retry {_day_and_time(when)} UTC"
    zone = zone_of(timezone)
    name = known_timezone(timezone)
    if zone is not UTC and name is not None and name not in UTC_NAMES:
        text += f" ({_day_and_time(when.astimezone(zone))} {name})"
    return f"{text}, attempt {number} of {total}"


# -- the schedule -------------------------------------------------------------------------------


def _slots(plan: RetryPlan, first: datetime, zone: tzinfo) -> list[datetime]:
    """Every retry time the plan names, in order, before the cap: the spans after the first
    failure, the days after it and then the paydays at the local time, all after the failure
    and within the window."""
    end = first + plan.window
    start = first.astimezone(zone).date()
    slots = [first + span for span in plan.after]
    slots += [_at_local(start + timedelta(days=d), plan.local_time, zone) for d in plan.days]
    if plan.paydays:
        day = start + timedelta(days=(plan.days[-1] if plan.days else 0) + 1)
        last = end.astimezone(zone).date()
        while day <= last:
            if day.day in plan.paydays:
                slots.append(_at_local(day, plan.local_time, zone))
            day += timedelta(days=1)
    return sorted({at for at in slots if first < at <= end})


def _at_local(day: date, at: time, zone: tzinfo) -> datetime:
    """``at`` on ``day`` in ``zone``, in UTC. A time a clock change skips is taken on the
    side of the change that keeps it on ``day``."""
    for fold in (0, 1):
        local = datetime.combine(day, at, tzinfo=zone).replace(fold=fold)
        moment = local.astimezone(UTC)
        if moment.astimezone(zone).date() == day:
            return moment
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _within_cap(at: datetime, before: list[datetime], cap: int) -> bool:
    """Whether one more retry at ``at`` keeps the 30 days ending at it within ``cap``."""
    return sum(1 for a in before if at - CAP_SPAN < a <= at) < cap


# -- words --------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _day_and_time(moment: datetime) -> str:
    # Fixed English names: strftime's %a and %b follow the process's locale.
    weekday, month = _WEEKDAYS[moment.weekday()], _MONTHS[moment.month - 1]
    return f"{weekday} {moment.day} {month} {moment:%H:%M}"


def _and(items: Any) -> str:
    words = list(items)
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _duration(span: timedelta) -> str:
    """A span in words, whole days, hours, minutes and seconds: "1 day 12 hours", "40 seconds"
    (a fraction of a second is left out)."""
    seconds = int(span.total_seconds())
    words = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(words)
