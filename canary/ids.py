"""The shapes of the ids Canary passes to Stripe, Salesforce and Slack.

An id that arrives from outside (a report, a webhook, a button) ends up in a request that
carries Canary's credentials: simple-salesforce joins a record id onto the instance URL, so
``https://attacker.example/c`` or ``../Opportunity/…`` in place of a case id would send the
session elsewhere or walk to another object. Every id is therefore checked against its
system's shape where it enters (the detection model) and again in each adapter, before it
reaches a URL or an SDK call. The checks are plain regular expressions: letters and digits
only, so no separator, dot, percent sign or scheme can pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# -- Salesforce ---------------------------------------------------------------------------------

#: A record id: 15 case-sensitive letters and digits, or the 18-character form.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")

#: The key prefix (first three characters) of standard objects, the same in every org.
SALESFORCE_KEY_PREFIXES: Mapping[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "CaseComment": "00a",
    "Case": "500",
}

#: A Salesforce object's API name (``Opportunity``, ``Account``, ``My_Object__c``).
SALESFORCE_OBJECT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")

# -- Stripe -------------------------------------------------------------------------------------

#: The prefixes each kind of Stripe object's id starts with.
STRIPE_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "invoice": ("in_",),
    "customer": ("cus_",),
    "payment_intent": ("pi_",),
    "charge": ("ch_", "py_"),
    "subscription": ("sub_",),
    "event": ("evt_",),
    "payment_method": ("pm_", "card_", "src_"),
    "refund": ("re_",),
    "dispute": ("dp_", "du_"),
    "price": ("price_",),
    "product": ("prod_",),
    "setup_intent": ("seti_",),
}

#: What follows the prefix: letters and digits (Stripe's ids are at most 255 characters).
_STRIPE_BODY = re.compile(r"[A-Za-z0-9]{1,250}")

# -- Slack --------------------------------------------------------------------------------------

SLACK_SHAPES: Mapping[str, re.Pattern[str]] = {
    "user": re.compile(r"[UW][A-Z0-9]{2,30}"),
    "channel": re.compile(r"[CGD][A-Z0-9]{2,30}"),
    "team": re.compile(r"T[A-Z0-9]{2,30}"),
    "enterprise": re.compile(r"E[A-Z0-9]{2,30}"),
    "usergroup": re.compile(r"S[A-Z0-9]{2,30}"),
    "app": re.compile(r"A[A-Z0-9]{2,30}"),
}

#: A message's timestamp, its id within a channel (``1712345678.123456``).
SLACK_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,8}")

#: A channel's name as people type it (``#gtm-alerts``): Slack allows lowercase letters,
#: digits, hyphens, underscores and dots (older workspaces), at most 80 characters.
SLACK_CHANNEL_NAME = re.compile(r"#?[a-z0-9][a-z0-9._-]{0,79}")


class InvalidId(ValueError):
    """An id that is not of its system's shape. The message names the id's role and the
    shape expected, never the value (which may be a URL meant for someone's eyes)."""

    def __init__(self, role: str, expected: str) -> None:
        super().__init__(f"{role} is not {expected}")
        self.role = role
        self.expected = expected


# -- checks -------------------------------------------------------------------------------------


def is_salesforce_id(value: object, sobject: str | None = None) -> bool:
    """A 15- or 18-character record id, of ``sobject``'s key prefix when that is known."""
    if not isinstance(value, str) or not SALESFORCE_ID.fullmatch(value):
        return False
    prefix = SALESFORCE_KEY_PREFIXES.get(sobject or "")
    return prefix is None or value.startswith(prefix)


def is_stripe_id(value: object, kind: str) -> bool:
    """A Stripe id of ``kind``: its prefix (``in_``, ``cus_``, …), then letters and digits."""
    if not isinstance(value, str):
        return False
    return any(
        value.startswith(prefix) and _STRIPE_BODY.fullmatch(value[len(prefix) :]) is not None
        for prefix in STRIPE_PREFIXES[kind]
    )


def is_slack_id(value: object, kind: str) -> bool:
    return isinstance(value, str) and SLACK_SHAPES[kind].fullmatch(value) is not None


def is_slack_ts(value: object) -> bool:
    return isinstance(value, str) and SLACK_TS.fullmatch(value) is not None


def salesforce_expected(sobject: str | None) -> str:
    prefix = SALESFORCE_KEY_PREFIXES.get(sobject or "")
    what = f"a Salesforce {sobject} id" if sobject else "a Salesforce id"
    shape = "15 or 18 letters and digits"
    return f"{what} ({shape} starting {prefix})" if prefix else f"{what} ({shape})"


def stripe_expected(kind: str) -> str:
    prefixes = " or ".join(STRIPE_PREFIXES[kind])
    return f"a Stripe {kind.replace('_', ' ')} id ({prefixes} then letters and digits)"


def slack_expected(kind: str) -> str:
    first = {"user": "U or W", "channel": "C, G or D"}.get(kind) or SLACK_SHAPES[kind].pattern[0]
    return f"a Slack {kind} id ({first} then capital letters and digits)"


def salesforce_id(value: object, role: str, sobject: str | None = None) -> str:
    """``value`` when it is a Salesforce id (of ``sobject``), else :class:`InvalidId`."""
    if not is_salesforce_id(value, sobject):
        raise InvalidId(role, salesforce_expected(sobject))
    return str(value)


def stripe_id(value: object, role: str, kind: str) -> str:
    if not is_stripe_id(value, kind):
        raise InvalidId(role, stripe_expected(kind))
    return str(value)


def slack_id(value: object, role: str, kind: str) -> str:
    if not is_slack_id(value, kind):
        raise InvalidId(role, slack_expected(kind))
    return str(value)


def slack_ts(value: object, role: str) -> str:
    if not is_slack_ts(value):
        raise InvalidId(role, "a Slack message timestamp (digits, a dot, digits)")
    return str(value)


# -- what a detection may carry -----------------------------------------------------------------

#: The system and object a subject's id belongs to, by the subject's kind. Kinds not listed
#: (``app_account``, ``zap_run``, ``kpi`` …) are other tools' ids: Canary never sends them to
#: an API as an id, so any text is kept.
SUBJECT_KINDS: Mapping[str, tuple[str, str]] = {
    "opportunity": ("salesforce", "Opportunity"),
    "account": ("salesforce", "Account"),
    "case": ("salesforce", "Case"),
    "contact": ("salesforce", "Contact"),
    "lead": ("salesforce", "Lead"),
    **{kind: ("stripe", kind) for kind in STRIPE_PREFIXES},
}

#: The facts the activities read as ids and send to Stripe or Salesforce (or link to).
ID_FACTS: Mapping[str, tuple[str, str]] = {
    "opportunity_id": ("salesforce", "Opportunity"),
    "case_id": ("salesforce", "Case"),
    "candidate_id": ("salesforce", "Account"),
    "account_id": ("salesforce", "Account"),
    "linked_account_id": ("salesforce", "Account"),
    "csm_id": ("salesforce", "User"),
    "invoice_id": ("stripe", "invoice"),
    "stripe_invoice_id": ("stripe", "invoice"),
    "customer_id": ("stripe", "customer"),
    "stripe_customer": ("stripe", "customer"),
    "payment_intent_id": ("stripe", "payment_intent"),
    "charge_id": ("stripe", "charge"),
}

#: An account's ids, by field.
ACCOUNT_IDS: Mapping[str, tuple[str, str]] = {
    "crm_id": ("salesforce", "Account"),
    "stripe_customer_id": ("stripe", "customer"),
}


def check(value: Any, role: str, system: str, kind: str) -> str:
    """``value`` when it is an id of ``system``'s ``kind``, else :class:`InvalidId`."""
    if system == "salesforce":
        return salesforce_id(value, role, kind)
    return stripe_id(value, role, kind)
