"""What ``/canary`` shows: its usage, a remediation's status as an outsider may see it, and the
report form built from the catalog (read back into a detection from that person).

A report by hand names only what a person knows: the error type, the subject's id, the account
and what happened. So the form offers the SOPs that look their subject up in a system of record
themselves (an ``enrich`` step: the invoice in Stripe, the opportunity or the account candidates
in Salesforce), whose alerts then say what the records say. The others read measurements only
Canary's detectors make (a baseline, a usage ratio, days overdue, a sentiment score), and
``unknown`` is what a tool's unrecognised error becomes, not something a person picks.

The same form opens from Canary's shortcuts: the global one (no channel: the answer goes to
the person's direct messages with the app) and the message one, which fills "What happened"
with the message's text as it was typed (plain text, cut to the field's length) and keeps the
message's channel and ts, so the answer goes there and the report links the message.

The form follows the type picked (Slack sends the choice at once: the select's block says
``dispatch_action``): the subject's label and placeholder name the kinds of id that SOP is about
(an invoice ``in_…``, an opportunity ``006…``, a product account), the account is asked only
when its lookups read it (and required when they have nothing else to go on), and a line says
what Canary will look up. The submission is read against the type's SOP in the catalog, never
against the form it came in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from canary import ids
from canary.blocks.alert import closed_phrase, temporal_ui_link
from canary.blocks.forms import (
    BUTTON_LIMIT,
    TITLE_LIMIT,
    FormError,
    _input,
    _option,
    _plain,
    _value,
)
from canary.blocks.mrkdwn import clip, code, escape, link, unescape
from canary.models import AccountRef, RemediationStatus
from canary.models.capabilities import ENRICHERS
from canary.models.detection import MESSAGE_LIMIT
from canary.models.sop import Catalog, Sop

#: The report form's callback id (not a ``canary:form:`` action form).
REPORT_CALLBACK = "canary:report"
#: Block ids of the report form's fields.
REPORT_TYPE, REPORT_SUBJECT, REPORT_ACCOUNT, REPORT_MESSAGE = (
    "error_type",
    "subject_id",
    "account",
    "what_happened",
)
#: Kinds whose ids are other tools' (an app account): kept as typed, within this length.
OTHER_ID_LIMIT = 120
#: Slack's limit for an input's placeholder.
PLACEHOLDER_LIMIT = 150
#: What happened, at most: what a detection keeps whole.
WHAT_HAPPENED_LIMIT = MESSAGE_LIMIT

USAGE = "\n".join(
    [
        "*/canary* — Canary's remediations from Slack:",
        "• `/canary report` — report an error by hand (a form: its type, the subject's id, "
        "the account, what happened)",
        "• `/canary status <workflow id | invoice in_… | opportunity 006…>` — where a "
        "remediation stands, who owns it, its links",
        "• `/canary mute <account | error type> <30m | 12h | 7d | 2w> <reason…>` — a quiet "
        "window: matching remediations are fixed but ping nobody until it ends "
        "(RevOps and Canary's admins)",
        "• `/canary help` — this",
    ]
)


def reportable(catalog: Catalog) -> list[Sop]:
    """The SOPs a person may report by hand (see the module's docstring)."""
    return [sop for sop in catalog.sops if sop.type != "unknown" and sop.enrich]


def offered(catalog: Catalog, error_type: object) -> Sop | None:
    """The SOP of ``error_type`` when the form offers it; None for any other value."""
    return next((sop for sop in reportable(catalog) if sop.type == error_type), None)


# -- the form of one SOP -------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """What one of an SOP's lookups (an enricher) means for a report: what it looks up, in
    words, and the account ids it finds its records by (none: it reads the subject)."""

    words: str
    account_ids: tuple[str, ...] = ()


#: The report form's words for the lookups; one not listed reads the subject, and its
#: description in ``canary.models.capabilities.ENRICHERS`` stands for it.
LOOKUPS: Mapping[str, Lookup] = {
    "stripe.invoice": Lookup("the invoice, its customer and its payment in Stripe"),
    "stripe.customer": Lookup(
        "the Stripe customer and the CRM account it names", ("stripe_customer_id",)
    ),
    "salesforce.opportunity": Lookup(
        "the opportunity in Salesforce: its stage, amount, close date and owner"
    ),
    "salesforce.account": Lookup("the account and its owner in Salesforce", ("crm_id",)),
    "salesforce.deal": Lookup(
        "the customer's open deal in Salesforce", ("crm_id", "stripe_customer_id")
    ),
    "salesforce.account_candidates": Lookup(
        "the Salesforce accounts with the account's domain or Stripe customer",
        ("domain", "stripe_customer_id"),
    ),
    "canary.signature_count": Lookup("how often this error was seen this week"),
}
#: How the form names an account id, and what it looks like.
ACCOUNT_IDS: Mapping[str, tuple[str, str]] = {
    "crm_id": ("its Salesforce account id", "001…"),
    "stripe_customer_id": ("its Stripe customer id", "cus_…"),
    "domain": ("its domain", "hooli.com"),
}
#: A subject kind in words, where its name is not how people say it.
KIND_WORDS: Mapping[str, str] = {"app_account": "product account"}


def _lookup(name: str) -> Lookup:
    return LOOKUPS.get(name) or Lookup(ENRICHERS.get(name, name).rstrip(".").lower())


def _kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


def _kind_shape(kind: str) -> str:
    """What an id of ``kind`` looks like (``in_…``, ``006…``), for a placeholder."""
    shape = ids.SUBJECT_KINDS.get(kind)
    if shape is None:
        return "as your product shows it"
    system, object_kind = shape
    if system == "stripe":
        return f"{ids.STRIPE_PREFIXES[object_kind][0]}…"
    prefix = ids.SALESFORCE_KEY_PREFIXES.get(object_kind)
    return f"{prefix}…" if prefix else "15 or 18 letters and digits"


def _either(words: list[str]) -> str:
    return words[0] if len(words) < 2 else f"{', '.join(words[:-1])} or {words[-1]}"


@dataclass(frozen=True)
class ReportForm:
    """What the report form asks for one SOP, read from its catalog entry."""

    subject_label: str
    subject_placeholder: str
    account: Literal["no", "optional", "required"]
    account_ids: tuple[str, ...]
    looks_up: tuple[str, ...]

    @property
    def account_label(self) -> str:
        return f"The account: {_either([ACCOUNT_IDS[i][0] for i in self.account_ids])}"

    @property
    def account_placeholder(self) -> str:
        return _either([ACCOUNT_IDS[i][1] for i in self.account_ids])


def report_form(sop: Sop) -> ReportForm:
    """The fields ``sop`` needs: its subject's kinds, the account when its lookups read one
    (required when they read nothing else), and what it looks up."""
    kinds = sop.subject_kinds or ["subject"]
    lookups = [_lookup(name) for name in sop.enrich]
    account_ids = tuple(
        dict.fromkeys(i for lookup in lookups for i in lookup.account_ids if i in ACCOUNT_IDS)
    )
    if not account_ids:
        account: Literal["no", "optional", "required"] = "no"
    elif all(lookup.account_ids for lookup in lookups):
        account = "required"
    else:
        account = "optional"
    return ReportForm(
        subject_label=f"The {_either([_kind_words(k) for k in kinds])} id",
        subject_placeholder=_either([_kind_shape(k) for k in kinds]),
        account=account,
        account_ids=account_ids,
        looks_up=tuple(lookup.words for lookup in lookups),
    )


def _text_input(
    block_id: str, label: str, placeholder: str, optional: bool, **more: Any
) -> dict[str, Any]:
    element = {
        "type": "plain_text_input",
        "max_length": 200,
        "placeholder": _plain(placeholder, PLACEHOLDER_LIMIT),
        **more,
    }
    return _input(block_id, label, element, optional)


def prefilled(message_text: str) -> str:
    """A Slack message's ``text`` as its author typed it (Slack's ``&amp;``, ``&lt;`` and
    ``&gt;`` undone; mentions and formatting stay as written), cut to the "What happened"
    field's length. It goes into a plain-text input, where Slack shows it as text."""
    return clip(unescape(message_text).strip(), WHAT_HAPPENED_LIMIT)


def report_view(
    catalog: Catalog,
    channel: str | None,
    chosen: Sop | None = None,
    *,
    message_ts: str | None = None,
    what_happened: str | None = None,
) -> dict[str, Any]:
    """The report form; ``channel`` (where the command was typed, or the message a shortcut
    was used on, at ``message_ts``) is where it answers, and None the person's direct
    messages. With a type ``chosen``, its fields are that SOP's; before, the form asks what
    any of them may. ``what_happened`` fills its field (as text, cut to its length)."""
    options = [_option(sop.title, sop.type) for sop in reportable(catalog)[:100]]
    select: dict[str, Any] = {
        "type": "static_select",
        "options": options,
        "placeholder": _plain("Pick the error type", PLACEHOLDER_LIMIT),
    }
    if chosen is not None:
        select["initial_option"] = _option(chosen.title, chosen.type)
    picker = {**_input(REPORT_TYPE, "What went wrong", select, False), "dispatch_action": True}
    blocks: list[dict[str, Any]] = [
        _context(
            "Canary starts a remediation from your report: it looks the subject up itself, "
            "fixes what its SOP can and alerts who owns it."
        ),
        picker,
    ]
    if chosen is None:
        blocks += [
            _text_input(
                REPORT_SUBJECT,
                "The subject's id (invoice in_…, opportunity 006…, product account)",
                "Pick the error type first: the form then says which id",
                False,
            ),
            _text_input(
                REPORT_ACCOUNT,
                "The account (Salesforce 001…, Stripe cus_…, domain or name)",
                "001…, cus_…, hooli.com",
                True,
            ),
        ]
    else:
        form = report_form(chosen)
        if form.looks_up:
            blocks.append(
                _context(f":mag: Canary looks up {escape(_either(list(form.looks_up)))}.")
            )
        blocks.append(
            _text_input(REPORT_SUBJECT, form.subject_label, form.subject_placeholder, False)
        )
        if form.account != "no":
            blocks.append(
                _text_input(
                    REPORT_ACCOUNT,
                    form.account_label,
                    form.account_placeholder,
                    form.account == "optional",
                )
            )
    message: dict[str, Any] = {
        "type": "plain_text_input",
        "multiline": True,
        "max_length": WHAT_HAPPENED_LIMIT,
    }
    if what_happened:
        message["initial_value"] = clip(what_happened, WHAT_HAPPENED_LIMIT)
    blocks.append(_input(REPORT_MESSAGE, "What happened", message, False))
    where: dict[str, str | None] = {"c": channel}
    if message_ts is not None:
        where["m"] = message_ts
    return {
        "type": "modal",
        "callback_id": REPORT_CALLBACK,
        "title": _plain("Report an error", TITLE_LIMIT),
        "submit": _plain("Report", BUTTON_LIMIT),
        "close": _plain("Cancel", BUTTON_LIMIT),
        "private_metadata": json.dumps(where),
        "blocks": blocks,
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _where(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def report_channel(view: dict[str, Any]) -> str | None:
    """The channel the form answers in, when its private_metadata names one of a channel
    id's shape; None otherwise (the answer goes to the person's direct messages)."""
    channel = _where(view).get("c")
    return channel if ids.is_slack_id(channel, "channel") else None


def report_message(view: dict[str, Any]) -> tuple[str, str] | None:
    """The message a shortcut reported (its channel and ts), when the form's private_metadata
    names both in their shapes; None otherwise."""
    ts = _where(view).get("m")
    channel = report_channel(view)
    return (channel, str(ts)) if channel is not None and ids.is_slack_ts(ts) else None


def current_what_happened(values: dict[str, Any]) -> str | None:
    """What the form's "What happened" holds now (``view.state.values``), to keep it when
    the form is rebuilt for another type."""
    text = _value(values, REPORT_MESSAGE)
    return text if isinstance(text, str) and text.strip() else None


def _subject_kind(sop: Sop, subject_id: str) -> str:
    """The kind of the SOP's subject that ``subject_id`` is shaped as; FormError otherwise."""
    expected = []
    for kind in sop.subject_kinds:
        shape = ids.SUBJECT_KINDS.get(kind)
        if shape is None:
            if len(subject_id) <= OTHER_ID_LIMIT and not any(c.isspace() for c in subject_id):
                return kind
            expected.append(f"a {_kind_words(kind)} id (no spaces)")
            continue
        system, object_kind = shape
        if system == "stripe" and ids.is_stripe_id(subject_id, object_kind):
            return kind
        if system == "salesforce" and ids.is_salesforce_id(subject_id, object_kind):
            return kind
        expected.append(
            ids.stripe_expected(object_kind)
            if system == "stripe"
            else ids.salesforce_expected(object_kind)
        )
    raise FormError({REPORT_SUBJECT: f"{sop.title} needs {' or '.join(expected)}."[:300]})


def _account(text: str) -> AccountRef:
    """The account as typed: a Salesforce Account id, a Stripe customer id, a domain or a name."""
    if ids.is_salesforce_id(text, "Account"):
        return AccountRef(crm_id=text)
    if ids.is_stripe_id(text, "customer"):
        return AccountRef(stripe_customer_id=text)
    if "." in text and " " not in text and "@" not in text:
        return AccountRef(domain=text.lower())
    return AccountRef(name=text)


def _read_account(sop: Sop, values: dict[str, Any]) -> AccountRef | None:
    """The account the SOP's form asks for; FormError when its lookups need one they can read.
    A form that does not ask for it is not read (whatever the submitted view held)."""
    form = report_form(sop)
    if form.account == "no":
        return None
    text = str(_value(values, REPORT_ACCOUNT) or "").strip()
    wanted = _either([ACCOUNT_IDS[i][0] for i in form.account_ids])
    if not text:
        if form.account == "required":
            raise FormError(
                {
                    REPORT_ACCOUNT: f"{sop.title} finds its records by the account: give {wanted}."[
                        :300
                    ]
                }
            )
        return None
    account = _account(text)
    if form.account == "required" and not any(
        getattr(account, field) for field in form.account_ids
    ):
        raise FormError({REPORT_ACCOUNT: f"{sop.title} looks the account up by {wanted}."[:300]})
    return account


def read_report(
    catalog: Catalog, values: dict[str, Any], user: str, report_id: str
) -> dict[str, Any]:
    """The detection the form describes (a ``Detection``'s fields, to validate as a report),
    read against the chosen type's SOP in the catalog; FormError for a type the form does not
    offer, a subject id not of its shape or an account its lookups cannot use."""
    chosen = offered(catalog, _value(values, REPORT_TYPE))
    if chosen is None:
        raise FormError({REPORT_TYPE: "Pick one of the error types."})
    subject_id = str(_value(values, REPORT_SUBJECT) or "").strip()
    if not subject_id:
        raise FormError({REPORT_SUBJECT: "Give the subject's id."})
    kind = _subject_kind(chosen, subject_id)
    account = _read_account(chosen, values)
    return {
        "id": report_id,
        "type": chosen.type,
        "source": "slack",
        "subject": {"kind": kind, "id": subject_id},
        "account": account.model_dump(exclude_none=True) if account else {},
        "message": str(_value(values, REPORT_MESSAGE) or "").strip(),
        "reported_by": user,
    }


# -- /canary status ----------------------------------------------------------------------------


def status_text(status: RemediationStatus, ui_url: str, namespace: str) -> str:
    """Where a remediation stands, for anyone in the workspace: no e-mail, the owner by their
    Slack mention, the links to the Temporal UI and the alert."""
    if status.owner_slack_user:
        owner = f"<@{status.owner_slack_user}>"
    elif status.owner:
        owner = "found in the CRM, not on Slack"
    else:
        owner = "not known yet"
    closer = next((e for e in reversed(status.timeline) if e.kind == "closed"), None)
    outcome = (
        closed_phrase(status.outcome, closer.actor if closer else None)
        if status.outcome
        else "open"
    )
    links = [link(temporal_ui_link(ui_url, namespace, status.workflow_id), "Temporal UI")]
    if status.slack and status.slack.permalink:
        links.append(link(status.slack.permalink, "the alert"))
    lines = [
        f"*{escape(status.headline or status.workflow_id)}*",
        f"{code(status.workflow_id)} — state *{status.state}*, {outcome}"
        + (f", escalation level {status.escalation_level}" if status.escalation_level else ""),
        f"Owner: {owner}",
        " · ".join(links),
    ]
    return "\n".join(lines)
