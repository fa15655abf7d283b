"""The sandbox's Slack delivers shortcuts as Slack does: a global one (``shortcut``) and a
message one (``message_action``, with the message, its channel and a ``response_url``),
signed to the app's interactivity URL and naming no app; the chat page offers them where
Slack does. ``chat.postMessage`` to a person's user id posts in the app's direct messages
with them, and an input the person did not touch submits the value the app set."""

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
from sandbox.slack.seed import SHORTCUTS
from tests.sandbox.receiver import Receiver

SECRET = "shortcuts-signing-secret"
TOKEN = "xoxb-shortcuts"


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


def last_payload(receiver: Receiver) -> dict[str, Any]:
    """The last interaction the app got, its signature checked as Slack's apps check it."""
    sent = receiver.received[-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    base = f"v0:{headers['x-slack-request-timestamp']}:".encode() + sent["body"]
    expected = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-slack-signature"], expected)
    return dict(json.loads(parse_qs(sent["body"].decode())["payload"][0]))


def use(sandbox: SandboxServer, **fields: Any) -> dict[str, Any]:
    answered = httpx.post(f"{sandbox.url}/_sandbox/slack/shortcut", json=fields)
    assert answered.status_code == 200
    return dict(answered.json())


def a_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Report"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": [
            {
                "type": "input",
                "block_id": "what",
                "label": {"type": "plain_text", "text": "What happened"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": "Set by the app",
                },
            }
        ],
    }


def test_a_global_shortcut_names_the_person_and_a_trigger_and_no_channel_or_app(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    assert use(sandbox, user="U0BOB", callback_id="canary_report")["status"] == 200
    payload = last_payload(receiver)
    assert payload["type"] == "shortcut" and payload["callback_id"] == "canary_report"
    assert payload["user"] == {"id": "U0BOB", "username": "bob", "team_id": "T0ACMEGTM"}
    assert payload["team"]["id"] == "T0ACMEGTM" and payload["action_ts"]
    assert not {"api_app_id", "channel", "message", "response_url"} & set(payload)
    # Its trigger opens one modal, once.
    opened = slack.views_open(trigger_id=payload["trigger_id"], view=a_modal())["view"]
    with pytest.raises(SlackApiError) as again:
        slack.views_open(trigger_id=payload["trigger_id"], view=a_modal())
    assert again.value.response["error"] == "exchanged_trigger_id"
    # Submitted untouched, the input carries the value the app set, as Slack's client sends.
    submitted = httpx.post(
        f"{sandbox.url}/_sandbox/slack/views/submit",
        json={"user": "U0BOB", "view_id": opened["id"], "values": {}},
    ).json()
    assert submitted["closed"], submitted
    values = last_payload(receiver)["view"]["state"]["values"]
    assert values["what"]["value"] == {"type": "plain_text_input", "value": "Set by the app"}


def test_a_message_shortcut_carries_the_message_its_channel_and_a_response_url(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    with sandbox.sandbox.slack.lock:  # Dan's message, as Slack keeps what he typed
        said = sandbox.sandbox.slack.post(
            "C0REVOPS", "<!channel> the invoice &lt;b&gt;", None, user="U0DAN"
        )
    answer = use(
        sandbox,
        user="U0CAROL",
        callback_id="canary_report_message",
        channel="revops",
        ts=said["ts"],
    )
    assert answer["status"] == 200
    payload = last_payload(receiver)
    assert payload["type"] == "message_action"
    assert payload["callback_id"] == "canary_report_message"
    assert payload["channel"] == {"id": "C0REVOPS", "name": "revops"}
    assert payload["message_ts"] == said["ts"] == payload["message"]["ts"]
    assert payload["message"]["text"] == "<!channel> the invoice &lt;b&gt;"
    assert payload["message"]["user"] == "U0DAN" and "channel" not in payload["message"]
    assert payload["user"]["id"] == "U0CAROL" and "api_app_id" not in payload
    # The response_url answers the person in the channel, and never touches the message.
    httpx.post(payload["response_url"], json={"text": "Got it", "replace_original": True})
    with sandbox.sandbox.slack.lock:
        slack_state = sandbox.sandbox.slack
        kept = slack_state.find_message("C0REVOPS", said["ts"])
        assert kept is not None and kept["text"].startswith("<!channel>")
        assert slack_state.ephemeral[-1] == {
            **slack_state.ephemeral[-1],
            "channel": "C0REVOPS",
            "user": "U0CAROL",
            "text": "Got it",
        }
    gone = use(sandbox, user="U0CAROL", callback_id="x", channel="revops", ts="1.000001")
    assert gone == {"status": 404, "body": "message_not_found"}
    nobody = use(sandbox, user="U0NOBODY", callback_id="canary_report")
    assert nobody == {"status": 404, "body": "user_not_found"}


def test_a_post_to_a_persons_user_id_goes_to_the_apps_direct_messages_with_them(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    posted = slack.chat_postMessage(channel="U0ERIN", text="Reported")
    assert posted["channel"] == "D0ERIN" and posted["message"]["text"] == "Reported"
    again = slack.chat_postMessage(channel="U0ERIN", text="Once more")
    assert again["channel"] == "D0ERIN"
    info = slack.conversations_info(channel="D0ERIN")["channel"]
    assert info["is_im"] is True and info["user"] == "U0ERIN" and "name" not in info
    history = slack.conversations_history(channel="D0ERIN")["messages"]
    assert [m["text"] for m in history] == ["Once more", "Reported"]
    listed = slack.conversations_list()["channels"]
    assert "D0ERIN" not in {c["id"] for c in listed}
    assert {c["id"] for c in slack.conversations_list(types="im")["channels"]} >= {"D0ERIN"}
    for nobody in ("U0CANARY", "U0NOBODY"):
        with pytest.raises(SlackApiError) as refused:
            slack.chat_postMessage(channel=nobody, text="Hello")
        assert refused.value.response["error"] == "channel_not_found"
    # Erin sees it in the app's Messages tab on the chat page; Bob does not.
    erin = httpx.get(f"{sandbox.url}/", params={"channel": "D0ERIN", "as": "U0ERIN"}).text
    assert "Canary · Messages" in erin and "Once more" in erin
    bob = httpx.get(f"{sandbox.url}/", params={"channel": "D0ERIN", "as": "U0BOB"}).text
    assert "Once more" not in bob and "Canary · Messages" not in bob


def test_the_chat_page_offers_the_apps_shortcuts_where_slack_does(
    sandbox: SandboxServer, slack: WebClient, receiver: Receiver
) -> None:
    slack.chat_postMessage(channel="wins", text="Hooli signed")
    page = httpx.get(f"{sandbox.url}/", params={"channel": "wins", "as": "U0FRANK"}).text
    [shortcut] = [s for s in SHORTCUTS if s["type"] == "global"]
    [on_message] = [s for s in SHORTCUTS if s["type"] == "message"]
    assert f"⚡ {shortcut['name']}" in page and 'aria-label="Shortcuts"' in page
    assert f'value="{on_message["callback_id"]}"' in page and "More actions" in page
    # The page's global entry, as a browser posts it: back to the channel, the app got it.
    before = len(receiver.received)
    pressed = httpx.post(
        f"{sandbox.url}/_sandbox/slack/shortcut",
        data={"user": "U0FRANK", "callback_id": shortcut["callback_id"], "back": "wins"},
    )
    assert pressed.status_code == 303
    assert pressed.headers["location"] == "/?channel=wins&as=U0FRANK"
    assert len(receiver.received) == before + 1
    assert last_payload(receiver)["type"] == "shortcut"
