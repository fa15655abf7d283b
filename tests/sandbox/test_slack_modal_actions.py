"""A control in a modal, as Slack's client sends it: ``block_actions`` with a ``view``
container and the view (its hash, what was entered so far), signed to the app; an input's
element only when its block says ``dispatch_action``; ``views.update`` with that hash keeps
what was entered in the inputs the new view keeps, and a stale hash is ``hash_conflict``."""

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
from slack_sdk.errors import SlackApiError

from sandbox import SandboxConfig, SandboxServer
from tests.sandbox.receiver import Receiver

SECRET = "modal-actions-signing-secret"
TOKEN = "xoxb-modal-actions"


def modal(
    subject_action: str = "value", kinds: tuple[str, ...] = ("invoice", "opportunity")
) -> Any:
    options = [{"text": {"type": "plain_text", "text": k}, "value": k} for k in kinds]
    return {
        "type": "modal",
        "callback_id": "canary:report",
        "title": {"type": "plain_text", "text": "Report an error"},
        "submit": {"type": "plain_text", "text": "Report"},
        "private_metadata": '{"c": "C0GTMALERTS"}',
        "blocks": [
            {
                "type": "input",
                "block_id": "kind",
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": "What"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
            },
            {
                "type": "input",
                "block_id": "subject",
                "label": {"type": "plain_text", "text": "Its id"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": subject_action,
                    "placeholder": {"type": "plain_text", "text": "in_…"},
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "actions",
                "block_id": "more",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "canary:report:more",
                        "text": {"type": "plain_text", "text": "More"},
                        "value": "more",
                    }
                ],
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


def opened(sandbox: SandboxServer, slack: WebClient, user: str = "U0BOB") -> dict[str, Any]:
    with sandbox.sandbox.slack.lock:
        trigger = sandbox.sandbox.slack.views.issue_trigger(user)
    return dict(slack.views_open(trigger_id=trigger, view=modal())["view"])


def act(sandbox: SandboxServer, **fields: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/slack/views/action", json=fields)


def last_payload(receiver: Receiver) -> dict[str, Any]:
    """The last interaction the app got, its signature checked as Slack's apps check it."""
    sent = receiver.received[-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    base = f"v0:{headers['x-slack-request-timestamp']}:".encode() + sent["body"]
    expected = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-slack-signature"], expected)
    return dict(json.loads(parse_qs(sent["body"].decode())["payload"][0]))


def shown(sandbox: SandboxServer, user: str = "U0BOB") -> dict[str, Any]:
    views = httpx.get(f"{sandbox.url}/_sandbox/slack/views", params={"user": user}).json()
    return dict(views["modals"][-1])


def test_a_dispatching_select_sends_block_actions_with_the_view_and_its_entries(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    view = opened(sandbox, slack)
    answered = act(
        sandbox,
        user="U0BOB",
        view_id=view["id"],
        block_id="kind",
        action_id="value",
        selected_option="opportunity",
        values={"subject": "006A", "note": "seen twice"},
    )
    assert answered.status_code == 200 and answered.json()["status"] == 200
    payload = last_payload(receiver)
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["user"]["id"] == "U0BOB" and payload["api_app_id"] and payload["trigger_id"]
    assert "response_url" not in payload and "channel" not in payload
    [action] = payload["actions"]
    assert action["type"] == "static_select" and action["block_id"] == "kind"
    assert action["selected_option"]["value"] == "opportunity" and action["action_ts"]
    sent = payload["view"]
    assert sent["id"] == view["id"] and sent["hash"] == view["hash"]
    assert (
        sent["callback_id"] == "canary:report"
        and sent["private_metadata"] == '{"c": "C0GTMALERTS"}'
    )
    values = sent["state"]["values"]
    assert values["kind"]["value"]["selected_option"]["value"] == "opportunity"
    assert values["subject"]["value"] == {"type": "plain_text_input", "value": "006A"}
    assert values["note"]["value"]["value"] == "seen twice"
    assert "user" not in sent


def test_an_input_without_dispatch_action_sends_nothing_and_a_button_does(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    view = opened(sandbox, slack)
    before = len(receiver.received)
    quiet = act(sandbox, user="U0BOB", view_id=view["id"], action_id="value", block_id="note")
    assert quiet.status_code == 409 and quiet.json()["error"] == "not_dispatched"
    assert len(receiver.received) == before
    pressed = act(sandbox, user="U0BOB", view_id=view["id"], action_id="canary:report:more")
    assert pressed.json()["status"] == 200
    [action] = last_payload(receiver)["actions"]
    assert action["type"] == "button" and action["value"] == "more"
    assert action["block_id"] == "more"


def test_only_the_person_acts_and_only_on_their_top_modal(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    view = opened(sandbox, slack, "U0DAN")
    other = act(sandbox, user="U0BOB", view_id=view["id"], action_id="canary:report:more")
    assert other.status_code == 404 and other.json()["error"] == "not_found"
    unknown = act(sandbox, user="U0DAN", view_id=view["id"], action_id="canary:nothing")
    assert unknown.json()["error"] == "action_not_found"
    choice = act(
        sandbox,
        user="U0DAN",
        view_id=view["id"],
        block_id="kind",
        action_id="value",
        selected_option="unknown",
    )
    assert choice.json()["error"] == "invalid_option"


def test_an_update_with_the_views_hash_keeps_the_kept_inputs_and_a_stale_one_conflicts(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    view = opened(sandbox, slack)
    act(
        sandbox,
        user="U0BOB",
        view_id=view["id"],
        block_id="kind",
        action_id="value",
        selected_option="invoice",
        values={"subject": "in_1", "note": "first"},
    )
    sent = last_payload(receiver)["view"]
    # The app answers with a view whose note input is a new one (another action_id).
    new = modal()
    new["blocks"][2]["element"]["action_id"] = "note_v2"
    updated = slack.views_update(view_id=sent["id"], hash=sent["hash"], view=new)["view"]
    assert updated["id"] == view["id"] and updated["hash"] != sent["hash"]
    values = shown(sandbox)["state"]["values"]
    assert values["subject"]["value"]["value"] == "in_1"
    assert values["kind"]["value"]["selected_option"]["value"] == "invoice"
    assert values["note"]["note_v2"]["value"] is None
    with pytest.raises(SlackApiError) as stale:
        slack.views_update(view_id=sent["id"], hash=sent["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    # A choice no longer offered is not kept either.
    fewer = slack.views_update(
        view_id=view["id"], hash=updated["hash"], view=modal(kinds=("opportunity",))
    )["view"]
    assert shown(sandbox)["state"]["values"]["kind"]["value"]["selected_option"] is None
    assert fewer["hash"] != updated["hash"]

    # The submission carries what is still entered without the person typing it again.
    submitted = httpx.post(
        f"{sandbox.url}/_sandbox/slack/views/submit",
        json={"user": "U0BOB", "view_id": view["id"], "values": {"kind": "opportunity"}},
    ).json()
    assert submitted["closed"], submitted
    values = last_payload(receiver)["view"]["state"]["values"]
    assert values["subject"]["value"]["value"] == "in_1"
    assert last_payload(receiver)["type"] == "view_submission"


def test_a_placeholder_and_dispatch_action_are_checked_as_slack_checks_them(
    slack: WebClient, sandbox: SandboxServer
) -> None:
    broken = modal()
    broken["blocks"][0]["dispatch_action"] = "yes"
    broken["blocks"][1]["element"]["placeholder"] = {"type": "plain_text", "text": "x" * 151}
    with sandbox.sandbox.slack.lock:
        trigger = sandbox.sandbox.slack.views.issue_trigger("U0BOB")
    with pytest.raises(SlackApiError) as refused:
        slack.views_open(trigger_id=trigger, view=broken)
    messages = refused.value.response["response_metadata"]["messages"]
    assert "must provide a boolean [json-pointer:/view/blocks/0/dispatch_action]" in messages
    assert (
        "must be less than 151 characters [json-pointer:/view/blocks/1/element/placeholder/text]"
        in messages
    )
