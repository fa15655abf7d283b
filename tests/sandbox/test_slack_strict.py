"""The sandbox's Slack refuses what Slack refuses: Block Kit beyond its documented limits or
with types a message does not take (``invalid_blocks`` with Slack's ``errors`` and
``response_metadata.messages``), a text over 40,000 characters (``msg_too_long``), a channel
that does not exist or that the app is not in, and calls faster than a method's tier allows
(HTTP 429, ``Retry-After``, ``ratelimited``), which Canary takes as a transient error that
waits as long as Slack asks. Everything goes through slack-sdk's clients, as Canary's calls
do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from activities.calls import application_error
from canary.adapters import SlackAdapter, TransientError
from canary.adapters.slack_adapter import _translate
from canary.blocks import mrkdwn as canary_limits
from sandbox import SandboxConfig, SandboxServer
from sandbox.slack import blockkit
from sandbox.slack.methods import METHOD_ERRORS

TOKEN = "xoxb-strict"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture()
def slack(sandbox: SandboxServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{sandbox.url}/api/")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(**fields: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Retry"}, **fields}


def refusal(slack: WebClient, blocks: list[Any], method: str = "chat_postMessage") -> Any:
    kwargs: dict[str, Any] = {"channel": "#revops", "text": "fallback", "blocks": blocks}
    with pytest.raises(SlackApiError) as refused:
        getattr(slack, method)(**kwargs)
    return refused.value.response


# -- Block Kit ----------------------------------------------------------------------------------

#: (what is wrong, the blocks, the line Slack answers with).
BROKEN: list[tuple[str, list[Any], str]] = [
    (
        "a section's text of 3,001",
        [section("x" * 3001)],
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        "an empty section text",
        [section("")],
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        "a section with neither text nor fields",
        [{"type": "section"}],
        "must provide either text or fields [json-pointer:/blocks/0]",
    ),
    (
        "eleven fields",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
    ),
    (
        "a field of 2,001",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
    ),
    (
        "a header of 151",
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        "a header in mrkdwn",
        [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
        "must be a valid enum value [json-pointer:/blocks/0/text/type]",
    ),
    (
        "a button's text of 76",
        [
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}],
            }
        ],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ),
    (
        "a button's value of 2,001",
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ),
    (
        "a button's url of 3,001",
        [{"type": "actions", "elements": [button(url="https://x.example/" + "u" * 2983)]}],
        "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/url]",
    ),
    (
        "an action_id of 256",
        [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
        "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
    ),
    (
        "a block_id of 256",
        [{**section("s"), "block_id": "b" * 256}],
        "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
    ),
    (
        "26 elements in an actions block",
        [{"type": "actions", "elements": [button()] * 26}],
        "no more than 25 items allowed [json-pointer:/blocks/0/elements]",
    ),
    (
        "11 context elements",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "no more than 10 items allowed [json-pointer:/blocks/0/elements]",
    ),
    ("51 blocks", [section("s")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
    (
        "a block type Slack does not know",
        [{"type": "sectoin", "text": "x"}],
        "unsupported type: sectoin [json-pointer:/blocks/0/type]",
    ),
    (
        "a text input in an actions block",
        [{"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "note"}]}],
        "unsupported type: plain_text_input [json-pointer:/blocks/0/elements/0/type]",
    ),
    (
        "a field Slack does not know",
        [{**section("s"), "colour": "red"}],
        "invalid additional property: colour [json-pointer:/blocks/0]",
    ),
    (
        "a block without a type",
        [{"text": "no type"}],
        "missing required field: type [json-pointer:/blocks/0]",
    ),
    (
        "a confirmation title of 101",
        [
            {
                "type": "actions",
                "elements": [
                    button(
                        confirm={
                            "title": {"type": "plain_text", "text": "t" * 101},
                            "text": {"type": "mrkdwn", "text": "Sure?"},
                            "confirm": {"type": "plain_text", "text": "Yes"},
                            "deny": {"type": "plain_text", "text": "No"},
                        }
                    )
                ],
            }
        ],
        "must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]",
    ),
    (
        "a select option's value of 151",
        [
            {
                **section("Pick"),
                "accessory": {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}],
                },
            }
        ],
        "must be less than 151 characters [json-pointer:/blocks/0/accessory/options/0/value]",
    ),
]


@pytest.mark.parametrize(
    ("blocks", "line"), [(b, line) for _, b, line in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_blocks_beyond_block_kit_are_refused_as_slack_refuses_them(
    slack: WebClient, blocks: list[Any], line: str
) -> None:
    answer = refusal(slack, blocks)
    assert answer.status_code == 200
    assert answer.data == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": [line],
        "response_metadata": {"messages": [f"[ERROR] {line}"]},
    }


def test_blocks_at_the_limits_are_taken(sandbox: SandboxServer, slack: WebClient) -> None:
    at_limits = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150, "emoji": True}},
        {**section("s" * 3000), "block_id": "b" * 255},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {
            "type": "actions",
            "elements": [
                button(
                    action_id="a" * 255,
                    value="v" * 2000,
                    url="https://x.example/" + "u" * 2982,
                    style="danger",
                    text={"type": "plain_text", "text": "b" * 75},
                )
            ]
            * 25,
        },
        {"type": "divider"},
        *[section("filler")] * 44,
    ]
    assert len(at_limits) == 50
    posted = slack.chat_postMessage(channel="#revops", text="t" * 40_000, blocks=at_limits)
    kept = httpx.get(f"{sandbox.url}/_sandbox/slack/messages", params={"channel": "revops"})
    assert next(m for m in kept.json() if m["ts"] == posted["ts"])["blocks"] == at_limits


def test_a_text_over_40000_characters_is_too_long(slack: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        slack.chat_postMessage(channel="#revops", text="t" * 40_001)
    assert refused.value.response.data == {"ok": False, "error": "msg_too_long"}


def test_an_update_or_ephemeral_with_broken_blocks_changes_nothing(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    posted = slack.chat_postMessage(channel="#revops", text="before", blocks=[section("before")])
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        slack.chat_update(
            channel=posted["channel"], ts=posted["ts"], text="after", blocks=[section("a" * 3001)]
        )
    kept = httpx.get(f"{sandbox.url}/_sandbox/slack/messages", params={"channel": "revops"})
    message = next(m for m in kept.json() if m["ts"] == posted["ts"])
    assert (message["text"], message["blocks"]) == ("before", [section("before")])
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        slack.chat_postEphemeral(
            channel="#revops",
            user="U0DAN",
            text="x",
            blocks=[{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
        )
    with pytest.raises(SlackApiError, match="invalid_blocks_format"):
        slack.api_call("chat.postMessage", json={"channel": "#revops", "blocks": {"a": 1}})


def test_canarys_own_limits_are_within_slacks() -> None:
    """Canary cuts its messages to its own constants; each is one Slack accepts."""
    pairs = [
        (canary_limits.MAX_MESSAGE_TEXT, blockkit.MESSAGE_TEXT),
        (canary_limits.MAX_BLOCKS, blockkit.MESSAGE_BLOCKS),
        (canary_limits.MAX_SECTION_TEXT, blockkit.SECTION_TEXT),
        (canary_limits.MAX_HEADER_TEXT, blockkit.HEADER_TEXT),
        (canary_limits.MAX_TEXT_OBJECT, blockkit.TEXT_OBJECT),
        (canary_limits.MAX_BUTTON_TEXT, blockkit.BUTTON_TEXT),
        (canary_limits.MAX_BUTTON_VALUE, blockkit.BUTTON_VALUE),
        (canary_limits.MAX_ACTIONS_ELEMENTS, blockkit.ACTIONS_ELEMENTS),
        (canary_limits.MAX_CONTEXT_ELEMENTS, blockkit.CONTEXT_ELEMENTS),
        (canary_limits.MAX_OPTIONS, blockkit.SELECT_OPTIONS),
        (canary_limits.MAX_OPTION_TEXT, blockkit.OPTION_TEXT),
        (canary_limits.MAX_OPTION_VALUE, blockkit.OPTION_VALUE),
        (canary_limits.MAX_CONFIRM_TITLE, blockkit.CONFIRM_TITLE),
        (canary_limits.MAX_CONFIRM_TEXT, blockkit.CONFIRM_TEXT),
        (canary_limits.MAX_CONFIRM_BUTTON, blockkit.CONFIRM_BUTTON),
        (canary_limits.MAX_BLOCK_ID, blockkit.BLOCK_ID),
        (canary_limits.MAX_URL, blockkit.URL),
    ]
    assert [(c, s) for c, s in pairs if c > s] == []


# -- channels -----------------------------------------------------------------------------------


def test_channels_that_do_not_exist_or_that_the_app_is_not_in(slack: WebClient) -> None:
    listed = {c["name"]: c["is_member"] for c in slack.conversations_list()["channels"]}
    assert listed["random"] is False and listed["gtm-alerts"] is True
    with pytest.raises(SlackApiError) as outside:
        slack.chat_postMessage(channel="#random", text="hello")
    assert outside.value.response.data == {"ok": False, "error": "not_in_channel"}
    with pytest.raises(SlackApiError) as nowhere:
        slack.chat_postMessage(channel="C0NOWHERE", text="hello")
    assert nowhere.value.response.data == {"ok": False, "error": "channel_not_found"}


# -- rate limits --------------------------------------------------------------------------------


@pytest.fixture()
def limited(sandbox: SandboxServer) -> Iterator[None]:
    limits = {"enabled": True, "tier2": 2, "tier3": 3, "post_per_second": 0.1, "post_burst": 2}
    httpx.post(f"{sandbox.url}/_sandbox/config", json={"slack_rate_limits": limits})
    try:
        yield
    finally:
        httpx.post(f"{sandbox.url}/_sandbox/config", json={"slack_rate_limits": {}})


@pytest.mark.usefixtures("limited")
def test_a_method_called_faster_than_its_tier_allows_is_rate_limited(slack: WebClient) -> None:
    slack.conversations_list()
    slack.conversations_list()  # tier 2, here two a minute: both at once is the burst
    with pytest.raises(SlackApiError) as limited:
        slack.conversations_list()
    answer = limited.value.response
    assert answer.status_code == 429 and answer.data == {"ok": False, "error": "ratelimited"}
    assert 1 <= int(answer.headers["retry-after"]) <= 30  # the next of two a minute
    assert slack.users_lookupByEmail(email="dan@acme-gtm.example")["ok"], "another tier's own"


@pytest.mark.usefixtures("limited")
def test_posts_are_limited_per_channel(slack: WebClient) -> None:
    slack.chat_postMessage(channel="#wins", text="one")
    slack.chat_postMessage(channel="C0WINS", text="two")  # the same channel, by its id
    with pytest.raises(SlackApiError) as limited:
        slack.chat_postMessage(channel="#wins", text="three")
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["retry-after"]) in range(9, 11)  # one in 10 s
    assert slack.chat_postMessage(channel="#customer-success", text="elsewhere")["ok"]


@pytest.mark.usefixtures("limited")
async def test_canary_takes_ratelimited_as_transient_and_waits_as_asked(
    sandbox: SandboxServer,
) -> None:
    adapter = SlackAdapter(TOKEN, f"{sandbox.url}/api/")
    try:
        channel = await adapter.channel_id("#finance")  # conversations.list: one of tier 2's two
        await adapter.post(channel, "one")
        await adapter.post(channel, "two")
        with pytest.raises(TransientError) as limited:
            await adapter.post(channel, "three")
    finally:
        await adapter.close()
    assert limited.value.code == "ratelimited" and limited.value.retry_after in range(9, 11)
    retry = application_error(limited.value)
    assert not retry.non_retryable and retry.type == "slack.transient"
    assert retry.next_retry_delay == timedelta(seconds=limited.value.retry_after)


def test_canary_reads_every_refusal_the_sandbox_may_answer() -> None:
    """Whatever Slack refuses for good fails at once (a person must act); only being
    rate-limited is worth asking again."""
    errors = set().union(*METHOD_ERRORS.values())
    read = {
        error: type(
            _translate(
                SlackApiError(
                    error,
                    SlackResponse(
                        client=None,
                        http_verb="POST",
                        api_url="",
                        req_args={},
                        data={"ok": False, "error": error},
                        headers={},
                        status_code=200,
                    ),
                )
            )
        ).__name__
        for error in errors
    }
    assert {e for e, kind in read.items() if kind == "TransientError"} == {"ratelimited"}


def test_the_limits_are_off_unless_asked(slack: WebClient) -> None:
    for _ in range(30):
        slack.conversations_list()
    assert all(slack.chat_postMessage(channel="#wins", text=f"{n}")["ok"] for n in range(10))
