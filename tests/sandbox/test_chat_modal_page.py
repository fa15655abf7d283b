"""The chat page's modal acts as Slack's client: a choice in an input whose block says
``dispatch_action`` goes to the app at once (``block_actions`` with the view and what was
entered so far), the page draws the view the app updated with what the person entered kept in
the inputs Slack keeps (same block id, action id and kind), and the submission carries it.

The page is read as a browser reads it (its form's fields, as the form would send them) and
posted to as the form posts; the app is a receiver of the signed requests, and ``views.update``
goes through slack_sdk as the app's would."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient

from sandbox import SandboxConfig, SandboxServer
from sandbox.slack.chat import FORM_CHANGED
from tests.browser.chromium import Node, parse
from tests.sandbox.receiver import Receiver

SECRET = "chat-modal-page-signing-secret"
TOKEN = "xoxb-chat-modal-page"
USER = "U0BOB"
PAGE = f"/?channel=gtm-alerts&as={USER}"


def _text(kind: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": kind}


def report(subject_label: str = "The subject's id", note_action: str = "value") -> Any:
    """A form like /canary report's: a dispatching type select, a line of text between, a
    subject, a note, and a lookup field that dispatches on Enter."""
    options = [{"text": _text(k.title()), "value": k} for k in ("invoice", "opportunity")]
    return {
        "type": "modal",
        "callback_id": "canary:report",
        "title": _text("Report an error"),
        "submit": _text("Report"),
        "close": _text("Cancel"),
        "private_metadata": '{"c": "C0GTMALERTS"}',
        "blocks": [
            {
                "type": "input",
                "block_id": "kind",
                "dispatch_action": True,
                "label": _text("What went wrong"),
                "element": {"type": "static_select", "action_id": "value", "options": options},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Canary looks it up."}]},
            {
                "type": "input",
                "block_id": "subject",
                "label": _text(subject_label),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "placeholder": _text("in_…"),
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": _text("Note"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": note_action,
                    "multiline": True,
                },
            },
            {
                "type": "input",
                "block_id": "lookup",
                "optional": True,
                "dispatch_action": True,
                "label": _text("Look up a domain"),
                "element": {"type": "plain_text_input", "action_id": "domain"},
            },
        ],
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[SandboxServer]:
    config = SandboxConfig(slack_signing_secret=SECRET, slack_interactivity_url=receiver.url)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def slack(sandbox: SandboxServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{sandbox.url}/api/")


def opened(sandbox: SandboxServer, slack: WebClient) -> dict[str, Any]:
    with sandbox.sandbox.slack.lock:
        trigger = sandbox.sandbox.slack.views.issue_trigger(USER)
    return dict(slack.views_open(trigger_id=trigger, view=report())["view"])


def page_modal(sandbox: SandboxServer) -> Node:
    page = httpx.get(f"{sandbox.url}{PAGE}")
    assert page.status_code == 200
    [dialog] = parse(page.text).all("dialog", cls="modal")
    return dialog


def modal_shown(sandbox: SandboxServer) -> bool:
    return bool(parse(httpx.get(f"{sandbox.url}{PAGE}").text).all("dialog", cls="modal"))


def form_fields(dialog: Node) -> dict[str, str]:
    """What the modal's form sends as the page drew it: its inputs, the chosen options, the
    text areas (the buttons only when pressed)."""
    fields = {i.attrs["name"]: i.attrs.get("value", "") for i in dialog.all("input")}
    for select in dialog.all("select"):
        chosen = [o for o in select.all("option") if "selected" in o.attrs]
        fields[select.attrs["name"]] = chosen[0].attrs["value"] if chosen else ""
    for area in dialog.all("textarea"):
        fields[area.attrs["name"]] = area.text().removeprefix("\n")
    return fields


def post(sandbox: SandboxServer, fields: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/slack/views/page", data=fields)


def last_payload(receiver: Receiver) -> dict[str, Any]:
    """The last interaction the app got, its signature checked as Slack's apps check it."""
    sent = receiver.received[-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    base = f"v0:{headers['x-slack-request-timestamp']}:".encode() + sent["body"]
    expected = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-slack-signature"], expected)
    return dict(json.loads(parse_qs(sent["body"].decode())["payload"][0]))


def field(dialog: Node, block_id: str) -> Node:
    return dialog.one("div", cls="field", data_block_id=block_id)


def test_a_choice_on_the_page_goes_to_the_app_and_the_page_draws_its_update(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    view = opened(sandbox, slack)
    dialog = page_modal(sandbox)
    assert dialog.attrs["data-view-id"] == view["id"] and dialog.attrs["data-hash"] == view["hash"]
    # Only the inputs whose block says dispatch_action act at once: the select when chosen,
    # the lookup on Enter; the subject waits for the submission.
    assert field(dialog, "kind").one("select").attrs["data-dispatch"] == "kind"
    assert "data-dispatch" not in field(dialog, "subject").one("input", type="text").attrs
    lookup = field(dialog, "lookup").one("input", type="text")
    assert lookup.attrs["data-dispatch-on-enter"] == "lookup"
    # The view's blocks in their order: the line of text between the select and the subject.
    text = " ".join(dialog.text().split())
    assert text.index("What went wrong") < text.index("Canary looks it up.")
    assert text.index("Canary looks it up.") < text.index("The subject's id")

    before = len(receiver.received)
    fields = form_fields(dialog)
    chosen = post(
        sandbox,
        {**fields, "v.kind": "opportunity", "v.subject": "006A", "v.note": "seen twice"}
        | {"act": "kind"},
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == PAGE
    assert len(receiver.received) == before + 1
    payload = last_payload(receiver)
    assert payload["type"] == "block_actions" and payload["user"]["id"] == USER
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    [action] = payload["actions"]
    assert (action["block_id"], action["action_id"]) == ("kind", "value")
    assert action["selected_option"]["value"] == "opportunity"
    sent = payload["view"]
    assert sent["hash"] == view["hash"]
    values = sent["state"]["values"]
    assert values["subject"]["value"]["value"] == "006A"
    assert values["note"]["value"]["value"] == "seen twice"

    # Before the app answers, the page keeps the choice and what was typed.
    waiting = page_modal(sandbox)
    assert form_fields(waiting)["v.kind"] == "opportunity"
    assert form_fields(waiting)["v.subject"] == "006A"

    # The app updates the form for the type chosen; its note is a new input (another action
    # id): the page draws the new view, the subject kept, the note empty, as Slack keeps them.
    updated = slack.views_update(
        view_id=view["id"],
        hash=sent["hash"],
        view=report("The opportunity id", note_action="note_v2"),
    )["view"]
    redrawn = page_modal(sandbox)
    assert redrawn.attrs["data-hash"] == updated["hash"]
    assert "The opportunity id" in field(redrawn, "subject").one("label").text()
    shown = form_fields(redrawn)
    assert shown["v.subject"] == "006A" and shown["v.note"] == "" and shown["a.note"] == "note_v2"

    # Enter in the lookup sends what is typed there, with everything entered so far.
    pressed = post(sandbox, {**shown, "v.lookup": "hooli.com", "act": "lookup"})
    assert pressed.status_code == 303 and "err=1" not in pressed.headers["location"]
    payload = last_payload(receiver)
    [action] = payload["actions"]
    assert (action["type"], action["action_id"], action["value"]) == (
        "plain_text_input",
        "domain",
        "hooli.com",
    )
    assert payload["view"]["state"]["values"]["kind"]["value"]["selected_option"]["value"] == (
        "opportunity"
    )

    # The submission from the page carries what is entered, without typing it again.
    submitted = post(sandbox, form_fields(page_modal(sandbox)))
    assert submitted.status_code == 303 and "err=1" not in submitted.headers["location"]
    payload = last_payload(receiver)
    assert payload["type"] == "view_submission"
    values = payload["view"]["state"]["values"]
    assert values["kind"]["value"]["selected_option"]["value"] == "opportunity"
    assert values["subject"]["value"]["value"] == "006A"
    assert values["lookup"]["domain"]["value"] == "hooli.com"
    assert not modal_shown(sandbox)


def test_what_is_typed_while_the_app_updates_the_form_is_kept_and_a_stale_form_sends_nothing(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    view = opened(sandbox, slack)
    drawn = form_fields(page_modal(sandbox))
    # The person types while the app updates the view under the page.
    slack.views_update(view_id=view["id"], view=report("The invoice id", note_action="note_v2"))
    typed = {**drawn, "v.kind": "invoice", "v.subject": "in_2", "v.note": "typed"}

    # Sent as it was drawn, the form reaches nothing: the page draws the view as it is now.
    before = len(receiver.received)
    stale = post(sandbox, typed)
    assert stale.status_code == 303 and "err=1" in stale.headers["location"]
    assert parse_qs(stale.headers["location"].split("?", 1)[1])["flash"] == [FORM_CHANGED]
    stale_choice = post(sandbox, {**typed, "act": "kind"})
    assert "err=1" in stale_choice.headers["location"]
    assert len(receiver.received) == before

    # The modal's script sends what is typed when the view changed under it (keep): what the
    # new view keeps (same block id, action id and kind) is drawn in it.
    kept = post(sandbox, {**typed, "keep": "1"})
    assert kept.status_code == 303 and kept.headers["location"] == PAGE
    redrawn = page_modal(sandbox)
    assert "The invoice id" in field(redrawn, "subject").one("label").text()
    shown = form_fields(redrawn)
    assert (shown["v.kind"], shown["v.subject"], shown["v.note"]) == ("invoice", "in_2", "")

    # Emptied on the page, a field is sent empty: a required one is refused under it.
    refused = post(sandbox, {**shown, "v.subject": ""})
    assert "e.subject=" in refused.headers["location"]
    assert len(receiver.received) == before
    again = page_modal(sandbox)
    assert form_fields(again)["v.subject"] == "" and form_fields(again)["v.kind"] == "invoice"

    # Closing the modal drops it and what was entered.
    closed = post(sandbox, {**form_fields(again), "close": "1"})
    assert closed.status_code == 303
    assert not modal_shown(sandbox)
    with sandbox.sandbox.slack.lock:
        assert view["id"] not in sandbox.sandbox.slack.views.drafts


def test_an_input_that_does_not_dispatch_sends_nothing_from_the_page(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    opened(sandbox, slack)
    fields = form_fields(page_modal(sandbox))
    before = len(receiver.received)
    forged = post(sandbox, {**fields, "v.subject": "in_3", "act": "subject"})
    assert "err=1" in forged.headers["location"] and "not_dispatched" in forged.headers["location"]
    nothing = post(sandbox, {**fields, "v.subject": "in_3", "act": "kind"})  # no option chosen
    assert "err=1" not in nothing.headers["location"]
    assert len(receiver.received) == before
    assert form_fields(page_modal(sandbox))["v.subject"] == "in_3"
    post(sandbox, {**fields, "close": "1"})
