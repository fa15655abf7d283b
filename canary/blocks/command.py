"""What ``/canary`` shows: its usage, a remediation's status as an outsider may see it, and the
report form built from the catalog (read back into a detection from that person).

A report by hand names only what a person knows: the error type, the subject's id, the account
and what happened. So the form offers the SOPs that look their subject up in a system of record
themselves (an ``enrich`` step: the invoice in Stripe, the opportunity or the account candidates
in Salesforce), whose alerts then say what the records say. The others read measurements only
Canary's detectors make (a baseline, a usage ratio, days overdue, a sentiment score), and
``unknown`` is what a tool's unrecognised error becomes, not something a person picks.
"""

from __future__ import annotations

import json
from typing import Any

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
from canary.blocks.mrkdwn import code, escape, link
from canary.models import AccountRef, RemediationStatus
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


def report_view(catalog: Catalog, channel: str | None) -> dict[str, Any]:
    """The report form; ``channel`` (where the command was typed) is where it answers."""
    options = [_option(sop.title, sop.type) for sop in reportable(catalog)[:100]]
    return {
        "type": "modal",
        "callback_id": REPORT_CALLBACK,
        "title": _plain("Report an error", TITLE_LIMIT),
        "submit": _plain("Report", BUTTON_LIMIT),
        "close": _plain("Cancel", BUTTON_LIMIT),
        "private_metadata": json.dumps({"c": channel}),
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Canary starts a remediation from your report: it looks the "
                        "subject up itself, fixes what its SOP can and alerts who owns it.",
                    }
                ],
            },
            _input(
                REPORT_TYPE, "What went wrong", {"type": "static_select", "options": options}, False
            ),
            _input(
                REPORT_SUBJECT,
                "The subject's id (invoice in_…, opportunity 006…, product account)",
                {"type": "plain_text_input", "max_length": 200},
                False,
            ),
            _input(
                REPORT_ACCOUNT,
                "The account (Salesforce 001…, Stripe cus_…, domain or name)",
                {"type": "plain_text_input", "max_length": 200},
                True,
            ),
            _input(
                REPORT_MESSAGE,
                "What happened",
                {"type": "plain_text_input", "multiline": True, "max_length": 2000},
                False,
            ),
        ],
    }


def report_channel(view: dict[str, Any]) -> str | None:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    channel = data.get("c") if isinstance(data, dict) else None
    return channel if ids.is_slack_id(channel, "channel") else None


def _subject_kind(sop: Sop, subject_id: str) -> str:
    """The kind of the SOP's subject that ``subject_id`` is shaped as; FormError otherwise."""
    expected = []
    for kind in sop.subject_kinds:
        shape = ids.SUBJECT_KINDS.get(kind)
        if shape is None:
            if len(subject_id) <= OTHER_ID_LIMIT and not any(c.isspace() for c in subject_id):
                return kind
            expected.append(f"a {kind.replace('_', ' ')} id (no spaces)")
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


def read_report(
    catalog: Catalog, values: dict[str, Any], user: str, report_id: str
) -> dict[str, Any]:
    """The detection the form describes (a ``Detection``'s fields, to validate as a report);
    FormError for a type not offered or a subject id not of its shape."""
    chosen = {sop.type: sop for sop in reportable(catalog)}.get(str(_value(values, REPORT_TYPE)))
    if chosen is None:
        raise FormError({REPORT_TYPE: "Pick one of the error types."})
    subject_id = str(_value(values, REPORT_SUBJECT) or "").strip()
    if not subject_id:
        raise FormError({REPORT_SUBJECT: "Give the subject's id."})
    kind = _subject_kind(chosen, subject_id)
    account = str(_value(values, REPORT_ACCOUNT) or "").strip()
    return {
        "id": report_id,
        "type": chosen.type,
        "source": "slack",
        "subject": {"kind": kind, "id": subject_id},
        "account": _account(account).model_dump(exclude_none=True) if account else {},
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
