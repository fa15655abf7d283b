"""Views as Slack keeps them: modals opened from a click's ``trigger_id`` (``views.open``,
stacked with ``views.push``, replaced with ``views.update``) and each person's Home tab
(``views.publish``), checked as Slack checks them; a person's submission of a modal goes to
the app as ``view_submission`` (over Socket Mode or signed HTTP, as clicks do), and the app's
answer (``response_action``: errors, update, push, clear, or nothing: close) is applied.

Slack's rules kept here: a ``trigger_id`` works once and for 3 seconds
(``expired_trigger_id``, ``invalid_trigger_id``); at most 3 modals stacked
(``push_limit_reached``); ``views.update`` with a stale ``hash`` is ``hash_conflict``; a
required input left empty never reaches the app (Slack's client refuses it).

A control in the person's top modal acts at once, as Slack's ``block_actions`` with a ``view``
container and the view itself (its ``hash`` and what was entered so far in ``state``): a
button or a select of an actions block or a section, and an input's element only when its
block says ``dispatch_action`` (otherwise Slack sends nothing until the submission).
``views.update`` keeps what was entered in the inputs whose ``block_id`` and ``action_id`` the
new view keeps (Slack's "preserving input entry"); the others start with the value the app
set (``initial_value``, ``initial_option``, ``initial_date``) or empty. An input the person
did not touch submits the value the app set, as Slack's client does.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.slack.blockkit import view_errors
from sandbox.slack.seed import APP_ID, BOT_ID, TEAM_DOMAIN, TEAM_ID, Obj
from sandbox.slack.state import SlackApiError, SlackState
from sandbox.slack.view_store import Entry, Trigger, ViewNotFound, Views
from sandbox.state import Sandbox

#: How long a trigger_id may open a view (Slack: 3 seconds).
TRIGGER_SECONDS = 3.0
#: Modals one person may have stacked.
MAX_STACK = 3
VIEW_METHODS = frozenset({"views.open", "views.push", "views.update", "views.publish"})
VIEW_ERRORS: dict[str, frozenset[str]] = {
    "views.open": frozenset(
        {"invalid_arguments", "expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"}
    ),
    "views.push": frozenset(
        {
            "invalid_arguments",
            "expired_trigger_id",
            "invalid_trigger_id",
            "exchanged_trigger_id",
            "push_limit_reached",
        }
    ),
    "views.update": frozenset({"invalid_arguments", "not_found", "hash_conflict"}),
    "views.publish": frozenset({"invalid_arguments", "not_found", "hash_conflict"}),
}


def _view_object(view: Obj, user: str, previous: Obj | None = None) -> Obj:
    """A view as Slack answers it: the app's fields plus Slack's own (id, hash, state …)."""
    made: Obj = {
        "id": previous["id"] if previous else "V" + secrets.token_hex(5).upper(),
        "team_id": TEAM_ID,
        "type": view["type"],
        "blocks": copy.deepcopy(view.get("blocks") or []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": None,
        "previous_view_id": None,
        "app_id": APP_ID,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": TEAM_ID,
        "bot_id": BOT_ID,
        "user": user,
    }
    for name in ("title", "submit", "close"):
        if name in view:
            made[name] = copy.deepcopy(view[name])
    return made


def _checked(args: Obj) -> Obj:
    view = args.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except json.JSONDecodeError:
            raise SlackApiError(
                "invalid_arguments",
                response_metadata={
                    "messages": ["[ERROR] view must be a JSON object [json-pointer:/view]"]
                },
            ) from None
    if view is None:
        raise SlackApiError(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] missing required field: view"]},
        )
    errors = view_errors(view)
    if errors:
        raise SlackApiError("invalid_arguments", response_metadata={"messages": errors})
    return view


def _trigger(views: Views, trigger_id: Any) -> Trigger:
    found = views.triggers.get(str(trigger_id or ""))
    if found is None:
        raise SlackApiError("invalid_trigger_id")
    if found.used:
        raise SlackApiError("exchanged_trigger_id")
    if time.monotonic() - found.issued > TRIGGER_SECONDS:
        raise SlackApiError("expired_trigger_id")
    found.used = True
    return found


def public(view: Obj) -> Obj:
    return {k: copy.deepcopy(v) for k, v in view.items() if k != "user"}


def call_view_method(state: SlackState, method: str, args: Obj) -> Obj:
    """``views.*``: the caller holds ``state.lock``."""
    views = state.views
    if method == "views.publish":
        user = str(args.get("user_id") or "")
        if user not in state.users:
            raise SlackApiError("not_found")
        view = _checked(args)
        if view["type"] != "home":
            raise SlackApiError(
                "invalid_arguments",
                response_metadata={
                    "messages": [
                        "[ERROR] views.publish takes a home view [json-pointer:/view/type]"
                    ]
                },
            )
        previous = views.homes.get(user)
        if args.get("hash") and previous and args["hash"] != previous["hash"]:
            raise SlackApiError("hash_conflict")
        views.homes[user] = _view_object(view, user, previous)
        return {"view": public(views.homes[user])}
    if method == "views.update":
        try:
            user, n, previous = views.find(args.get("view_id"), args.get("external_id"))
        except ViewNotFound:
            raise SlackApiError("not_found") from None
        if args.get("hash") and args["hash"] != previous["hash"]:
            raise SlackApiError("hash_conflict")
        view = _checked(args)
        updated = _view_object(view, user, previous)
        updated["root_view_id"], updated["previous_view_id"] = (
            previous["root_view_id"],
            previous["previous_view_id"],
        )
        views.stacks[user][n] = updated
        _keep_drafts(views, updated)
        return {"view": public(updated)}
    view = _checked(args)
    if view["type"] != "modal":
        raise SlackApiError(
            "invalid_arguments",
            response_metadata={
                "messages": [f"[ERROR] {method} takes a modal [json-pointer:/view/type]"]
            },
        )
    trigger = _trigger(views, args.get("trigger_id"))
    stack = views.stacks.setdefault(trigger.user, [])
    if method == "views.open":
        stack.clear()
    elif len(stack) >= MAX_STACK:
        raise SlackApiError("push_limit_reached")
    made = _view_object(view, trigger.user)
    made["root_view_id"] = stack[0]["id"] if stack else made["id"]
    made["previous_view_id"] = stack[-1]["id"] if stack else None
    stack.append(made)
    return {"view": public(made)}


# -- a person submits a modal -------------------------------------------------------------


def _input_blocks(view: Obj) -> list[Obj]:
    return [b for b in view.get("blocks") or [] if b.get("type") == "input"]


def _field(element: Obj, given: Any) -> tuple[Obj, str | None]:
    """One input's entry in ``state.values`` for what was entered, and what Slack's client
    says is wrong with it (an option not offered, a text over its length)."""
    kind = element["type"]
    field: Obj = {"type": kind}
    problem = None
    if kind == "static_select":
        options = element.get("options") or []
        chosen = next((o for o in options if o.get("value") == given), None)
        if given and chosen is None:
            problem = "Pick one of the options."
        field["selected_option"] = copy.deepcopy(chosen)
    elif kind == "datepicker":
        field["selected_date"] = given or None
    else:
        most = element.get("max_length")
        if isinstance(given, str) and most and len(given) > most:
            problem = f"Must be {most} characters or fewer."
        field["value"] = given or None
    return field, problem


def _initial(element: Obj) -> Any:
    """What an input holds before the person touches it: the value the app set."""
    if element["type"] == "static_select":
        return (element.get("initial_option") or {}).get("value")
    if element["type"] == "datepicker":
        return element.get("initial_date")
    return element.get("initial_value")


def _state_values(view: Obj, entered: dict[str, Any]) -> tuple[Obj, dict[str, str]]:
    """``view.state.values`` for what the person entered (block id → text, option value or
    date; an input they did not touch holds the value the app set), and the errors Slack's
    client shows itself (a required input left empty)."""
    values: Obj = {}
    missing: dict[str, str] = {}
    for block in _input_blocks(view):
        block_id, element = block.get("block_id") or "", block["element"]
        given = entered[block_id] if block_id in entered else _initial(element)
        given = given.strip() if isinstance(given, str) else given
        if not given and not block.get("optional", False):
            missing[block_id] = "Please complete this required field."
        field, problem = _field(element, given)
        if problem:
            missing[block_id] = problem
        values[block_id] = {element.get("action_id") or "value": field}
    return values, missing


def _keep_drafts(views: Views, updated: Obj) -> None:
    """After an update: what was entered stays in the inputs the new view keeps with the same
    ``block_id``, ``action_id`` and kind (a choice only while it is still offered)."""
    draft = views.drafts.get(updated["id"]) or {}
    kept: dict[str, Entry] = {}
    for block in _input_blocks(updated):
        block_id, element = block.get("block_id") or "", block["element"]
        entry = draft.get(block_id)
        if entry is None or (entry.action_id, entry.kind) != _kind(element):
            continue
        if _field(element, entry.given)[1] is None:
            kept[block_id] = entry
    views.drafts[updated["id"]] = kept
    updated["state"] = {"values": _state_values(updated, _given(kept))[0]}


def _kind(element: Obj) -> tuple[str, str]:
    return element.get("action_id") or "value", element["type"]


def _given(draft: dict[str, Entry]) -> dict[str, Any]:
    return {block_id: entry.given for block_id, entry in draft.items()}


def _enter(views: Views, view: Obj, entered: dict[str, Any]) -> dict[str, Any]:
    """Keep what the person entered in ``view``'s inputs and answer everything entered in it
    so far (block id → text, option value or date)."""
    draft = views.drafts.setdefault(view["id"], {})
    for block in _input_blocks(view):
        block_id = block.get("block_id") or ""
        if block_id in entered:
            draft[block_id] = Entry(*_kind(block["element"]), entered[block_id])
    return _given(draft)


def enter_from_page(
    views: Views,
    user: str,
    view_id: str,
    drawn_hash: str,
    drawn: Mapping[str, tuple[str, str]],
    entered: Mapping[str, Any],
) -> bool:
    """Keep what a page's modal form carried for the person's view ``view_id`` (block id →
    text, option value or date) and answer whether the page drew their top modal as it is now.

    The page names the view's ``hash`` it drew and each field's ``(action_id, kind)``: when the
    app updated the view since, an entry is kept only in an input the view still has with the
    same block id, action id and kind (and a choice only while it is still offered), as an
    update keeps them. Without a hash (a caller that is not the page), entries are kept as
    given and the view counts as current."""
    try:
        owner, n, view = views.find(view_id, None)
    except ViewNotFound:
        return False
    if owner != user:
        return False
    current = n == len(views.stacks[owner]) - 1 and drawn_hash in ("", view["hash"])
    if drawn_hash and drawn_hash != view["hash"]:
        inputs = {b.get("block_id") or "": b["element"] for b in _input_blocks(view)}
        entered = {
            block_id: given
            for block_id, given in entered.items()
            if block_id in inputs
            and drawn.get(block_id) == _kind(inputs[block_id])
            and _field(inputs[block_id], given)[1] is None
        }
    view["state"] = {"values": _state_values(view, _enter(views, view, dict(entered)))[0]}
    return current


def close_top(views: Views, user: str, view_id: str) -> None:
    """The person closes their top modal (its close button): it and what was entered go."""
    stack = views.stacks.get(user) or []
    if stack and stack[-1]["id"] == view_id:
        views.drafts.pop(stack.pop()["id"], None)


def view_submission_payload(state: SlackState, user: str, view: Obj, values: Obj) -> Obj:
    person = state.users[user]
    submitted = public(view)
    submitted["state"] = {"values": values}
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {
            "id": user,
            "username": person["name"],
            "name": person["name"],
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": "sandbox-verification-token",
        "trigger_id": state.views.issue_trigger(user),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


@dataclass
class Submitted:
    """What became of a submission: closed, still open with errors, or replaced."""

    status: int
    closed: bool
    errors: dict[str, str] = field(default_factory=dict)
    answer: str = ""


async def submit_view(
    sandbox: Sandbox, client: httpx.AsyncClient, user: str, view_id: str, entered: dict[str, Any]
) -> Submitted:
    """The person presses the modal's submit button."""
    from sandbox.slack.interactivity import deliver_interaction

    slack = sandbox.slack
    with slack.lock:
        views = slack.views
        try:
            owner, n, view = views.find(view_id, None)
        except ViewNotFound:
            raise SlackApiError("not_found") from None
        if owner != user or n != len(views.stacks[owner]) - 1:
            raise SlackApiError("not_found")
        values, missing = _state_values(view, _enter(views, view, entered))
        if missing:
            return Submitted(status=200, closed=False, errors=missing)
        payload = view_submission_payload(slack, user, view, values)
    status, text, _ = await deliver_interaction(sandbox, client, payload)
    if status >= 300:
        return Submitted(status=status, closed=False, answer=text[:500])
    try:
        answer = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    action = answer.get("response_action") if isinstance(answer, dict) else None
    with slack.lock:
        stack = views.stacks.get(user) or []
        if action == "errors":
            return Submitted(status=status, closed=False, errors=dict(answer.get("errors") or {}))
        if action in ("update", "push"):
            errors = view_errors(answer.get("view"))
            if errors:
                return Submitted(status=status, closed=False, answer="; ".join(errors))
            made = _view_object(answer["view"], user, view if action == "update" else None)
            if action == "update":
                stack[-1] = made
                _keep_drafts(views, made)
            elif len(stack) < MAX_STACK:
                stack.append(made)
            return Submitted(status=status, closed=False)
        closed = list(stack) if action == "clear" else stack[-1:]
        del stack[len(stack) - len(closed) :]
        for gone in closed:
            views.drafts.pop(gone["id"], None)
        return Submitted(status=status, closed=True)


# -- a person acts in a modal ------------------------------------------------------------


class NotDispatched(SlackApiError):
    """An input whose block does not say ``dispatch_action``: Slack sends nothing for it."""

    def __init__(self) -> None:
        super().__init__("not_dispatched")


def _acted_on(view: Obj, block_id: str | None, action_id: str) -> tuple[Obj, Obj]:
    """The block and the element a person acts on in ``view``."""
    for block in view.get("blocks") or []:
        if block_id and block.get("block_id") != block_id:
            continue
        if block.get("type") == "input":
            element = block.get("element") or {}
            if element.get("action_id") == action_id:
                if not block.get("dispatch_action"):
                    raise NotDispatched()
                return block, element
            continue
        elements = [
            *(block.get("elements") or []),
            *([block["accessory"]] if "accessory" in block else []),
        ]
        for element in elements:
            if element.get("action_id") == action_id and element.get("type") != "image":
                return block, element
    raise SlackApiError("action_not_found")


def _action_entry(block: Obj, element: Obj, given: Any) -> Obj:
    """The ``actions`` entry of a ``block_actions`` payload for one control."""
    kind = element.get("type", "button")
    entry: Obj = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block.get("block_id") or "",
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        entry["text"] = copy.deepcopy(element.get("text"))
        entry["value"] = element.get("value", "")
    elif kind == "static_select":
        chosen = next((o for o in element.get("options") or [] if o.get("value") == given), None)
        if chosen is None:
            raise SlackApiError("invalid_option")
        entry["selected_option"] = copy.deepcopy(chosen)
        if element.get("placeholder"):
            entry["placeholder"] = copy.deepcopy(element["placeholder"])
    elif kind == "datepicker":
        entry["selected_date"] = given
    else:
        entry["value"] = given
    return entry


def view_block_actions(
    state: SlackState,
    user: str,
    view_id: str,
    block_id: str | None,
    action_id: str,
    given: Any,
    entered: dict[str, Any],
) -> Obj:
    """``block_actions`` for a control in the person's top modal, after what they entered in
    its inputs (``entered``, block id → text, option value or date); the caller holds
    ``state.lock``."""
    views = state.views
    try:
        owner, n, view = views.find(view_id, None)
    except ViewNotFound:
        raise SlackApiError("not_found") from None
    if owner != user or n != len(views.stacks[owner]) - 1:
        raise SlackApiError("not_found")
    block, element = _acted_on(view, block_id, action_id)
    entry = _action_entry(block, element, given)
    if block.get("type") == "input":
        entered = {**entered, block.get("block_id") or "": given}
    view["state"] = {"values": _state_values(view, _enter(views, view, entered))[0]}
    return view_action_payload(state, user, view, entry)


def view_action_payload(
    state: SlackState, user: str, view: dict[str, Any], action: dict[str, Any]
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends for a control in a view (a modal or a Home
    tab): the person, the app, the view as it stands and the action."""
    person = state.users[user]
    return {
        "type": "block_actions",
        "user": {
            "id": user,
            "username": person["name"],
            "name": person["name"],
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": "sandbox-verification-token",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": state.views.issue_trigger(user),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": public(view),
        "actions": [action],
    }
