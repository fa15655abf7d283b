"""The form an action asks in before it acts (a Slack modal): why a remediation is dismissed,
what fixed it, how long to snooze, a note. Built from the SOP's action, read back from
Slack's ``view_submission`` into the remediation's ``ActionRequest``.

A reason is picked from the SOP's list or written; a snooze is one of the SOP's lengths or a
date. What Slack cannot say (one of two fields) is checked here, and the refusal is shown in
the form, next to the field, as Slack shows errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from canary.blocks.alert import human_duration
from canary.blocks.mrkdwn import clip
from canary.models import ActionRequest
from canary.models.sop import HumanAction

#: Every Canary form's callback id starts with this; the action id follows.
FORM_CALLBACK = "canary:form:"
#: Slack's limits for a modal's title and buttons, and an option's text.
TITLE_LIMIT, BUTTON_LIMIT, OPTION_LIMIT = 24, 24, 75
#: Block ids of the fields (each field's element is action id ``value``).
REASON, REASON_TEXT, SNOOZE, SNOOZE_DATE, NOTE = (
    "reason",
    "reason_text",
    "snooze",
    "snooze_date",
    "note",
)
#: A snooze picked by date ends at this hour (UTC) of that day.
SNOOZE_DATE_HOUR = time(9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FormContext:
    """What the form acts on, kept in the modal's private_metadata (Canary writes it; Slack
    hands it back with the submission)."""

    workflow_id: str
    action: str
    channel: str | None
    ts: str | None

    def dumps(self) -> str:
        return json.dumps(
            {"w": self.workflow_id, "a": self.action, "c": self.channel, "t": self.ts},
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> FormContext:
        data = json.loads(text or "{}")
        if not isinstance(data, dict) or not isinstance(data.get("w"), str):
            raise ValueError("the form's context is missing")
        return cls(str(data["w"]), str(data.get("a") or ""), data.get("c"), data.get("t"))


def _plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, OPTION_LIMIT), "value": value[:150]}


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, 2000),
        "element": {**element, "action_id": "value"},
        "optional": optional,
    }


def form_view(action: HumanAction, headline: str, context: FormContext) -> dict[str, Any]:
    """The modal for pressing ``action`` on the remediation ``headline``."""
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(headline, 3000)}]}
    ]
    asked = action.reason_asked
    if asked != "no":
        question = "Why dismiss it?" if action.closes_as == "dismissed" else "What fixed it?"
        if action.reasons:
            options = [_option(r, f"r{i}") for i, r in enumerate(action.reasons[:100])]
            blocks.append(
                _input(REASON, question, {"type": "static_select", "options": options}, True)
            )
            blocks.append(
                _input(REASON_TEXT, "Or in your words", {"type": "plain_text_input"}, True)
            )
        else:
            blocks.append(
                _input(
                    REASON_TEXT,
                    question,
                    {"type": "plain_text_input", "max_length": 300},
                    asked == "optional",
                )
            )
    lengths = action.snooze_options
    if len(lengths) > 1:
        options = [_option(human_duration(d), str(int(d.total_seconds()))) for d in lengths]
        select = {"type": "static_select", "options": options, "initial_option": options[0]}
        blocks.append(_input(SNOOZE, "Snooze for", select, True))
        blocks.append(_input(SNOOZE_DATE, "Or until (09:00 UTC)", {"type": "datepicker"}, True))
    blocks.append(
        _input(
            NOTE,
            "Note" if action.id == "note" else "Add a note (optional)",
            {"type": "plain_text_input", "multiline": True, "max_length": 2000},
            action.id != "note",
        )
    )
    return {
        "type": "modal",
        "callback_id": f"{FORM_CALLBACK}{action.id}",
        "title": _plain(action.label, TITLE_LIMIT),
        "submit": _plain("Add" if action.id == "note" else action.label, BUTTON_LIMIT),
        "close": _plain("Cancel", BUTTON_LIMIT),
        "private_metadata": context.dumps(),
        "blocks": blocks,
    }


def _value(values: dict[str, Any], block_id: str) -> Any:
    field = (values.get(block_id) or {}).get("value") or {}
    match field.get("type"):
        case "static_select":
            return (field.get("selected_option") or {}).get("value")
        case "datepicker":
            return field.get("selected_date")
        case _:
            return field.get("value")


class FormError(ValueError):
    """A submission to refuse in the form: ``errors`` maps block ids to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def read_form(
    action: HumanAction, values: dict[str, Any], request: ActionRequest, today: date
) -> ActionRequest:
    """The click's request with what the form says; FormError for what Slack cannot check."""
    update: dict[str, Any] = {}
    picked = _value(values, REASON)
    written = (_value(values, REASON_TEXT) or "").strip()
    if isinstance(picked, str) and picked.startswith("r") and picked[1:].isdigit():
        index = int(picked[1:])
        if index < len(action.reasons):
            update["reason"] = action.reasons[index]
    if written:
        update["reason"] = written if "reason" not in update else f"{update['reason']}: {written}"
    if action.reason_asked == "required" and "reason" not in update:
        where = REASON if action.reasons else REASON_TEXT
        raise FormError({where: "Pick a reason or write one."})
    chosen = _value(values, SNOOZE)
    day = _value(values, SNOOZE_DATE)
    if day:
        picked_day = date.fromisoformat(str(day))
        if picked_day <= today:
            raise FormError({SNOOZE_DATE: "Pick a day after today."})
        update["snooze_until"] = datetime.combine(picked_day, SNOOZE_DATE_HOUR)
    elif chosen and str(chosen).isdigit():
        seconds = timedelta(seconds=int(chosen))
        if seconds not in action.snooze_options:
            raise FormError({SNOOZE: "Pick one of the lengths offered."})
        update["snooze_for"] = seconds  # counted from the workflow's own clock
    note = (_value(values, NOTE) or "").strip()
    if note:
        update["note"] = note[:2000]
    elif action.id == "note":
        raise FormError({NOTE: "Write the note."})
    return request.model_copy(update=update)
