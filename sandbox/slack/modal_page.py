"""The person's open modal as the sandbox's pages draw it (the chat page and the Home tab), what
the page's form sends back, and where the page goes after: back to the channel or to the Home
tab, with the errors Slack shows under the modal's fields carried in the address
(``e.<block id>``).

The page's form is Slack's client for the modal: it shows what the person entered so far
(kept by the view store, so an update or a refused submission does not empty the fields), and
a select, date or text input whose block says ``dispatch_action`` sends its choice at once
(``act``), as Slack's client does; the modal's inline script polls the view and, when the app
updated or closed it, sends what is typed (``keep``) so the page draws the new view with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from sandbox.slack.mrkdwn import text_of
from sandbox.slack.view_store import Entry

#: Where a page's modal sends the person after submitting it, when it came from the Home tab.
HOME = "home"
#: The prefix of a field's error in the page's address.
ERROR_PREFIX = "e."
#: Slack's default for a text input whose block dispatches: the Enter key sends it.
ON_ENTER = "on_enter_pressed"


def _element_kind(element: Mapping[str, Any]) -> tuple[str, str]:
    """An input's (action_id, type), as the view store keeps entries under them."""
    return str(element.get("action_id") or "value"), str(element.get("type") or "")


def _field(block: Mapping[str, Any], entry: Entry | None, error: str | None) -> dict[str, Any]:
    element = block["element"]
    block_id = block.get("block_id") or ""
    action_id, kind = _element_kind(element)
    # What the person entered, while the input is the same one (action id and kind); before
    # that, the value the app set.
    if entry is not None and (entry.action_id, entry.kind) == (action_id, kind):
        given = entry.given
    elif kind == "static_select":
        given = (element.get("initial_option") or {}).get("value")
    elif kind == "datepicker":
        given = element.get("initial_date")
    else:
        given = element.get("initial_value")
    dispatch = bool(block.get("dispatch_action"))
    triggers = (element.get("dispatch_action_config") or {}).get("trigger_actions_on") or [ON_ENTER]
    return {
        "block_id": block_id,
        "action_id": action_id,
        "label": (block.get("label") or {}).get("text", ""),
        "type": kind,
        "optional": bool(block.get("optional")),
        "multiline": bool(element.get("multiline")),
        "placeholder": (element.get("placeholder") or {}).get("text", ""),
        "options": [
            {"value": o["value"], "text": o["text"]["text"]} for o in element.get("options") or []
        ],
        "value": "" if given is None else str(given),
        # A choice (a select, a date) dispatches when made; a single-line text on Enter.
        "dispatch": dispatch and kind in ("static_select", "datepicker"),
        "dispatch_on_enter": dispatch
        and kind == "plain_text_input"
        and not element.get("multiline")
        and ON_ENTER in triggers,
        "error": error,
    }


def page_modal(
    view: dict[str, Any],
    name_of: Callable[[str], str],
    errors: Mapping[str, str],
    entered: Mapping[str, Entry] | None = None,
) -> dict[str, Any]:
    """The modal as the page draws it: its text blocks and fields in the view's order, each
    field with what the person ``entered`` so far (the view store's drafts) and the error
    Slack shows under it; errors naming no field of the modal are shown above its fields."""
    blocks: list[dict[str, Any]] = []
    entered = entered or {}
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            block_id = block.get("block_id") or ""
            blocks.append(_field(block, entered.get(block_id), errors.get(block_id)))
        elif block.get("type") == "context":
            blocks += [{"text": text_of(e, name_of)} for e in block.get("elements") or []]
        elif block.get("type") == "section":
            blocks.append({"text": text_of(block.get("text"), name_of)})
    named = {b["block_id"] for b in blocks if "block_id" in b}
    return {
        "id": view["id"],
        "hash": view.get("hash") or "",
        "title": (view.get("title") or {}).get("text", ""),
        "submit": (view.get("submit") or {}).get("text", "Submit"),
        "close": (view.get("close") or {}).get("text", "Cancel"),
        "blocks": blocks,
        "other_errors": [m for k, m in errors.items() if k not in named],
    }


@dataclass
class PageForm:
    """What the page's modal form sent: what is entered in each field (block id → text,
    option value or date; an emptied field is sent empty), the view as the page drew it (its
    id, its hash and each field's action id and kind), and what the person did."""

    user: str
    view_id: str
    hash: str
    entered: dict[str, Any]
    drawn: dict[str, tuple[str, str]]
    #: The block id of the dispatching input the person chose in or pressed Enter in.
    act: str
    keep: bool
    close: bool


def read_page_form(form: Mapping[str, Any]) -> PageForm:
    def prefixed(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): str(v) for k, v in form.items() if k.startswith(prefix)}

    actions, kinds = prefixed("a."), prefixed("t.")
    return PageForm(
        user=str(form.get("user", "")),
        view_id=str(form.get("view_id", "")),
        hash=str(form.get("hash", "")),
        entered=dict(prefixed("v.")),
        drawn={b: (actions[b], kinds[b]) for b in actions if b in kinds},
        act=str(form.get("act", "")),
        keep=bool(form.get("keep")),
        close=bool(form.get("close")),
    )


def field_errors(query: Mapping[str, str]) -> dict[str, str]:
    """The modal's field errors a page's address carries (block id → message)."""
    return {
        k.removeprefix(ERROR_PREFIX): v[:300]
        for k, v in query.items()
        if k.startswith(ERROR_PREFIX) and v
    }


def back_to(back: str, user: str) -> str:
    """The page to return to: the Home tab, or a channel of the chat page."""
    if back == HOME:
        return f"/home?as={quote(user)}&shown=1"
    return f"/?channel={quote(back or 'gtm-alerts')}&as={quote(user)}"


def with_errors(target: str, errors: Mapping[str, str]) -> str:
    """``target`` carrying the fields' errors, marked as a refusal (``err=1``)."""
    return f"{target}&err=1&" + urlencode(
        {f"{ERROR_PREFIX}{k}": v[:300] for k, v in errors.items()}
    )
