"""The sandbox's Slack against Slack's own description of the Web API
(``../shared/reference/slack/slack_web_openapi_v2.json``), for every method Canary calls.

Which methods those are is read from Canary's code (the Slack adapter, the activities and the
gateway), so a method Canary starts calling is checked without anyone listing it here. For each:

- the success answer, through slack-sdk as Canary calls it, has every field the description
  marks required, in the answer and in the objects it holds (messages, channels, people,
  user groups);
- every error the sandbox can answer for it (``METHOD_ERRORS``, which the sandbox enforces on
  itself) is provoked here, answered in Slack's envelope, and is one the description lists for
  the method or one of the few Slack documents beyond it (:data:`BEYOND_DESCRIPTION`, each with
  where Slack says so).

Faults injected through ``/_sandbox/faults`` (``fatal_error`` and the like) are a test's
doing, not the method's, and are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from sandbox import SandboxConfig, SandboxServer
from sandbox.slack.methods import METHOD_ERRORS
from sandbox.slack.seed import BOT_USER
from sandbox.slack.views import call_view_method

ROOT = Path(__file__).parents[2]
DESCRIPTION = json.loads(
    (ROOT.parent / "shared" / "reference" / "slack" / "slack_web_openapi_v2.json").read_text()
)
TOKEN = "xoxb-conformance"
#: Where Canary calls Slack's Web API.
CALLERS = [
    ROOT / "canary" / "adapters" / "slack_adapter.py",
    ROOT / "activities" / "slack.py",
    *sorted((ROOT / "starter").rglob("*.py")),
]
_FAMILIES = "api|auth|chat|conversations|users|usergroups|views|reactions|pins|team|bots"
#: slack-sdk's method names (``chat_postMessage``), quoted (the adapter's ``_call("…")``) or
#: called (``client.chat_postMessage(…)``).
_SDK_METHOD = re.compile(rf"[\"'.]((?:{_FAMILIES})_[A-Za-z_]+)[\"'(]")
#: slack-bolt asks auth.test who the app is before it handles the first click.
IMPLICIT = {"auth.test"}

#: The methods Slack's description has. It (1.7.0) is older than Socket Mode (2021), so it has no
#: ``apps.connections.open``: tests/sandbox/test_slack_socket_mode.py holds the sandbox's to
#: Slack's reference page for it.
ALL = frozenset(m for m in METHOD_ERRORS if f"/{m}" in DESCRIPTION["paths"])
#: Slack's description (1.7.0) lists no error for any views.* method.
VIEWS = frozenset({"views.open", "views.push", "views.update", "views.publish"})
VIEWS_BY_TRIGGER = frozenset({"views.open", "views.push"})
#: A modal and a Home tab as Canary builds them.
MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Dismiss"},
    "submit": {"type": "plain_text", "text": "Dismiss"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason_text",
            "label": {"type": "plain_text", "text": "Why dismiss it?"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}
HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}]}
POSTING = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
#: Errors Slack answers today that its description (version 1.7.0, older than Block Kit's
#: validation errors and message metadata) does not list for a method: (the methods, where
#: Slack documents it). An entry the description already lists fails the test, so this stays
#: the short list of what the description lacks.
BEYOND_DESCRIPTION: dict[str, tuple[frozenset[str], str]] = {
    "ratelimited": (
        ALL,
        "any method, HTTP 429 with Retry-After (docs.slack.dev/apis/web-api/rate-limits); the "
        "description lists only the older message-posting rate_limited",
    ),
    "invalid_arguments": (
        ALL - {"auth.test", "api.test", "users.list", "usergroups.list"},
        "a required argument missing, with '[ERROR] missing required field: …' in "
        "response_metadata.messages (the common errors of every method's reference page)",
    ),
    "invalid_blocks": (POSTING, "Block Kit refused (docs.slack.dev/reference/methods/<method>)"),
    "invalid_blocks_format": (POSTING, "blocks that are not a JSON array (the same pages)"),
    "invalid_metadata_format": (
        frozenset({"chat.postMessage", "chat.update"}),
        "message metadata (2022) that is not JSON (the same pages)",
    ),
    "invalid_metadata_schema": (
        frozenset({"chat.postMessage", "chat.update"}),
        "message metadata without its event_type (the same pages)",
    ),
    "thread_not_found": (
        frozenset({"chat.postMessage"}),
        "a reply to a thread that is gone (slackapi/bolt-js#2307)",
    ),
    "invalid_cursor": (
        frozenset({"conversations.list", "conversations.history", "conversations.replies"}),
        "a cursor Slack did not hand out; the description lists it for users.list, whose "
        "pagination these methods share",
    ),
    "no_such_subteam": (
        frozenset({"usergroups.users.list"}),
        "a user group id that names none (docs.slack.dev/reference/methods/usergroups.users.list)",
    ),
    "invalid_json": (
        frozenset({"chat.postMessage", "api.test"}) | VIEWS,
        "a JSON body that does not parse; the description lists it for every other method here",
    ),
    "json_not_object": (
        frozenset({"chat.postMessage", "api.test"}) | VIEWS,
        "a JSON body that is not an object; likewise",
    ),
    "not_authed": (
        frozenset({"api.test"}) | VIEWS,
        "api.test and views.* list no errors at all; a missing token",
    ),
    "invalid_auth": (frozenset({"api.test"}) | VIEWS, "likewise, a token that is not one"),
    "invalid_trigger_id": (
        VIEWS_BY_TRIGGER,
        "a trigger_id Slack did not hand out (docs.slack.dev/reference/methods/views.open)",
    ),
    "expired_trigger_id": (VIEWS_BY_TRIGGER, "a trigger_id older than 3 seconds (the same page)"),
    "exchanged_trigger_id": (VIEWS_BY_TRIGGER, "a trigger_id already used (the same page)"),
    "push_limit_reached": (
        frozenset({"views.push"}),
        "a fourth stacked modal (docs.slack.dev/reference/methods/views.push)",
    ),
    "not_found": (
        frozenset({"views.update", "views.publish"}),
        "a view or user that is not there (docs.slack.dev/reference/methods/views.update)",
    ),
    "hash_conflict": (
        frozenset({"views.update", "views.publish"}),
        "a hash that is no longer the view's (the same page, and views.publish's)",
    ),
}


# -- reading the description ---------------------------------------------------------------------


def operation(method: str) -> dict[str, Any]:
    path = DESCRIPTION["paths"].get(f"/{method}")
    assert path, f"Slack's description has no {method}"
    return dict(next(iter(path.values())))


def described_errors(method: str) -> set[str]:
    schema = operation(method)["responses"]["default"]["schema"]
    return set(schema.get("properties", {}).get("error", {}).get("enum") or [])


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DESCRIPTION["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def missing(schema: dict[str, Any], value: Any, where: str = "") -> list[str]:
    """Every field the description requires that ``value`` lacks, by path. A schema whose
    ``items`` is a list offers alternatives (Slack's users and conversations): one must fit."""
    schema = resolve(schema)
    if isinstance(schema.get("items"), list) and schema.get("type") != "array":
        tries = [missing(alternative, value, where) for alternative in schema["items"]]
        return min(tries, key=len)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            m
            for n, item in enumerate(value)
            for m in missing(schema["items"], item, f"{where}/{n}")
        ]
    if not isinstance(value, dict):
        return []
    lacking = [f"{where}/{name}" for name in schema.get("required", []) if name not in value]
    for name, sub in schema.get("properties", {}).items():
        if name in value:
            lacking += missing(sub, value[name], f"{where}/{name}")
    return lacking


def canary_methods() -> set[str]:
    """Web API methods named in Canary's code (as slack-sdk's WebClient names them; error
    codes and fields such as ``team_id`` are no WebClient method) and the one bolt calls."""
    named = {m for path in CALLERS for m in _SDK_METHOD.findall(path.read_text())}
    return {m.replace("_", ".") for m in named if callable(getattr(WebClient, m, None))} | IMPLICIT


# -- the sandbox ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture(scope="module")
def slack(sandbox: SandboxServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{sandbox.url}/api/")


@pytest.fixture(scope="module")
def posted(slack: WebClient, sandbox: SandboxServer) -> dict[str, Any]:
    """An alert with a reply, as Canary posts them; a fresh trigger id and an open view on
    demand (a person's click hands out the one, views.open makes the other)."""
    views = sandbox.sandbox.slack.views

    def view() -> str:
        opened = slack.views_open(trigger_id=views.issue_trigger("U0BOB"), view=MODAL)
        return str(opened["view"]["id"])

    alert = slack.chat_postMessage(
        channel="#gtm-alerts",
        text="Payment failed",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Payment failed*"}}],
        metadata={"event_type": "canary_remediation", "event_payload": {"key": "k/alert"}},
    )
    slack.chat_postMessage(channel=alert["channel"], text="reply", thread_ts=alert["ts"])
    return {
        "channel": alert["channel"],
        "ts": alert["ts"],
        "trigger": lambda: views.issue_trigger("U0ALICE"),
        "view": view,
    }


#: One successful call per method, through slack-sdk as Canary makes it.
SUCCESS: dict[str, Callable[[WebClient, dict[str, Any]], Any]] = {
    "api.test": lambda s, p: s.api_test(),
    "auth.test": lambda s, p: s.auth_test(),
    "chat.postMessage": lambda s, p: s.chat_postMessage(
        channel="#gtm-alerts", text="t", thread_ts=p["ts"]
    ),
    "chat.update": lambda s, p: s.chat_update(channel=p["channel"], ts=p["ts"], text="updated"),
    "chat.postEphemeral": lambda s, p: s.chat_postEphemeral(
        channel=p["channel"], user="U0ALICE", text="only you"
    ),
    "chat.getPermalink": lambda s, p: s.chat_getPermalink(channel=p["channel"], message_ts=p["ts"]),
    "conversations.list": lambda s, p: s.conversations_list(
        types="public_channel,private_channel", limit=200
    ),
    "conversations.info": lambda s, p: s.conversations_info(channel=p["channel"]),
    "conversations.history": lambda s, p: s.conversations_history(
        channel=p["channel"], limit=200, include_all_metadata=True
    ),
    "conversations.replies": lambda s, p: s.conversations_replies(
        channel=p["channel"], ts=p["ts"], limit=200, include_all_metadata=True
    ),
    "users.lookupByEmail": lambda s, p: s.users_lookupByEmail(email="alice@acme-gtm.example"),
    "users.info": lambda s, p: s.users_info(user="U0ALICE"),
    "users.list": lambda s, p: s.users_list(),
    "usergroups.list": lambda s, p: s.usergroups_list(),
    "usergroups.users.list": lambda s, p: s.usergroups_users_list(usergroup="S0REVOPS"),
    "views.open": lambda s, p: s.views_open(trigger_id=p["trigger"](), view=MODAL),
    "views.push": lambda s, p: s.views_push(trigger_id=p["trigger"](), view=MODAL),
    "views.update": lambda s, p: s.views_update(view_id=p["view"](), view=MODAL),
    "views.publish": lambda s, p: s.views_publish(user_id="U0ALICE", view=HOME),
}

BLOCKS_TOO_LONG = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
#: Per method: (the error, the arguments that provoke it) for each error it may answer
#: beyond the ones every method answers (provoked in :func:`provoke` itself).
PROVOKE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "chat.postMessage": [
        ("invalid_arguments", {"text": "x"}),
        ("channel_not_found", {"channel": "#nowhere", "text": "x"}),
        ("not_in_channel", {"channel": "#random", "text": "x"}),
        ("thread_not_found", {"channel": "#gtm-alerts", "text": "x", "thread_ts": "1.000001"}),
        ("no_text", {"channel": "#gtm-alerts"}),
        ("msg_too_long", {"channel": "#gtm-alerts", "text": "x" * 40_001}),
        ("invalid_blocks", {"channel": "#gtm-alerts", "text": "x", "blocks": BLOCKS_TOO_LONG}),
        ("invalid_blocks_format", {"channel": "#gtm-alerts", "text": "x", "blocks": "[{"}),
        ("invalid_metadata_format", {"channel": "#gtm-alerts", "text": "x", "metadata": "{"}),
        ("invalid_metadata_schema", {"channel": "#gtm-alerts", "text": "x", "metadata": {}}),
    ],
    "chat.update": [
        ("invalid_arguments", {"channel": "{channel}", "text": "x"}),
        ("channel_not_found", {"channel": "C0NOWHERE", "ts": "{ts}", "text": "x"}),
        ("message_not_found", {"channel": "{channel}", "ts": "1.000001", "text": "x"}),
        ("cant_update_message", {"channel": "{channel}", "ts": "{human_ts}", "text": "x"}),
        ("no_text", {"channel": "{channel}", "ts": "{plain_ts}", "text": ""}),
        ("msg_too_long", {"channel": "{channel}", "ts": "{ts}", "text": "x" * 40_001}),
        ("invalid_blocks", {"channel": "{channel}", "ts": "{ts}", "blocks": BLOCKS_TOO_LONG}),
        ("invalid_blocks_format", {"channel": "{channel}", "ts": "{ts}", "blocks": "nope"}),
        ("invalid_metadata_format", {"channel": "{channel}", "ts": "{ts}", "metadata": "{"}),
        ("invalid_metadata_schema", {"channel": "{channel}", "ts": "{ts}", "metadata": {"a": 1}}),
    ],
    "chat.postEphemeral": [
        ("invalid_arguments", {"channel": "{channel}", "text": "x"}),
        ("channel_not_found", {"channel": "C0NOWHERE", "user": "U0ALICE", "text": "x"}),
        ("user_not_in_channel", {"channel": "{channel}", "user": "U0NOBODY", "text": "x"}),
        ("no_text", {"channel": "{channel}", "user": "U0ALICE"}),
        ("msg_too_long", {"channel": "{channel}", "user": "U0ALICE", "text": "x" * 40_001}),
        ("invalid_blocks", {"channel": "{channel}", "user": "U0ALICE", "blocks": BLOCKS_TOO_LONG}),
        ("invalid_blocks_format", {"channel": "{channel}", "user": "U0ALICE", "blocks": "[{"}),
    ],
    "chat.getPermalink": [
        ("invalid_arguments", {"channel": "{channel}"}),
        ("channel_not_found", {"channel": "C0NOWHERE", "message_ts": "{ts}"}),
        ("message_not_found", {"channel": "{channel}", "message_ts": "1.000001"}),
    ],
    "conversations.list": [
        ("invalid_arguments", {"limit": "many"}),
        ("invalid_cursor", {"cursor": "not-a-cursor"}),
    ],
    "conversations.info": [
        ("invalid_arguments", {}),
        ("channel_not_found", {"channel": "C0NOWHERE"}),
    ],
    "conversations.history": [
        ("invalid_arguments", {}),
        ("channel_not_found", {"channel": "C0NOWHERE"}),
        ("invalid_cursor", {"channel": "{channel}", "cursor": "not-a-cursor"}),
        ("invalid_ts_oldest", {"channel": "{channel}", "oldest": "yesterday"}),
        ("invalid_ts_latest", {"channel": "{channel}", "latest": "now"}),
    ],
    "conversations.replies": [
        ("invalid_arguments", {"channel": "{channel}"}),
        ("channel_not_found", {"channel": "C0NOWHERE", "ts": "{ts}"}),
        ("thread_not_found", {"channel": "{channel}", "ts": "1.000001"}),
        ("invalid_cursor", {"channel": "{channel}", "ts": "{ts}", "cursor": "not-a-cursor"}),
    ],
    "users.lookupByEmail": [
        ("invalid_arguments", {}),
        ("users_not_found", {"email": "gina@acme-gtm.example"}),
    ],
    "users.info": [("invalid_arguments", {}), ("user_not_found", {"user": "U0NOBODY"})],
    "usergroups.users.list": [
        ("invalid_arguments", {}),
        ("no_such_subteam", {"usergroup": "S0NOBODY"}),
    ],
    "views.open": [
        ("invalid_arguments", {"trigger_id": "{trigger}"}),
        ("invalid_trigger_id", {"trigger_id": "1.T0ACMEGTM.nope", "view": MODAL}),
        ("expired_trigger_id", {"trigger_id": "{old_trigger}", "view": MODAL}),
        ("exchanged_trigger_id", {"trigger_id": "{used_trigger}", "view": MODAL}),
    ],
    "views.push": [
        ("invalid_arguments", {"trigger_id": "{trigger}", "view": {"type": "modal"}}),
        ("invalid_trigger_id", {"trigger_id": "1.T0ACMEGTM.nope", "view": MODAL}),
        ("expired_trigger_id", {"trigger_id": "{old_trigger}", "view": MODAL}),
        ("exchanged_trigger_id", {"trigger_id": "{used_trigger}", "view": MODAL}),
        ("push_limit_reached", {"trigger_id": "{full_trigger}", "view": MODAL}),
    ],
    "views.update": [
        ("invalid_arguments", {"view_id": "{view_id}"}),
        ("not_found", {"view_id": "V0NOWHERE", "view": MODAL}),
        ("hash_conflict", {"view_id": "{view_id}", "view": MODAL, "hash": "1.stale"}),
    ],
    "views.publish": [
        ("invalid_arguments", {"user_id": "U0ALICE"}),
        ("not_found", {"user_id": "U0NOBODY", "view": HOME}),
        ("hash_conflict", {"user_id": "U0ALICE", "view": HOME, "hash": "1.stale"}),
    ],
}


def view_places(server: SandboxServer) -> dict[str, str]:
    """Trigger ids fresh, expired, used and of a person with three modals stacked, and an
    open view with a Home tab published, for provoking views.* errors."""
    slack = server.sandbox.slack
    with slack.lock:
        views = slack.views
        fresh, old, used = (views.issue_trigger("U0ALICE") for _ in range(3))
        views.triggers[old].issued -= 60
        views.triggers[used].used = True
        full = views.issue_trigger("U0DAN")
        views.stacks["U0DAN"] = [
            {"id": f"V0FULL{n}", "hash": "1.x", "root_view_id": None, "previous_view_id": None}
            for n in range(3)
        ]
        call_view_method(slack, "views.open", {"trigger_id": fresh, "view": MODAL})
        opened = views.stacks["U0ALICE"][-1]["id"]
        call_view_method(slack, "views.publish", {"user_id": "U0ALICE", "view": HOME})
        return {
            "trigger": views.issue_trigger("U0ALICE"),
            "old_trigger": old,
            "used_trigger": used,
            "full_trigger": full,
            "view_id": opened,
        }


def call(
    sandbox: SandboxServer,
    method: str,
    body: Any,
    token: str | None = TOKEN,
    raw: bytes | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(f"{sandbox.url}/api/{method}", content=content, headers=headers)


def _place(value: Any, places: dict[str, str]) -> Any:
    """``"{channel}"`` and the like: the posted message's channel, ts, …"""
    named = re.fullmatch(r"\{(\w+)\}", value) if isinstance(value, str) else None
    return places[named.group(1)] if named else value


def provoke(sandbox: SandboxServer, method: str, places: dict[str, str]) -> dict[str, int]:
    """Every error ``method`` may answer, provoked once each: {error: HTTP status}."""
    seen: dict[str, int] = {}

    def expect(error: str, response: httpx.Response) -> None:
        answer = response.json()
        assert answer["ok"] is False and answer["error"] == error, (method, error, answer)
        assert set(answer) <= {"ok", "error", "errors", "response_metadata"}, answer
        if error == "invalid_blocks":
            assert answer["errors"] and answer["response_metadata"]["messages"] == [
                f"[ERROR] {line}" for line in answer["errors"]
            ]
        seen[error] = response.status_code

    expect("not_authed", call(sandbox, method, {}, token=None))
    expect("invalid_auth", call(sandbox, method, {}, token="xoxp-a-person"))
    expect("invalid_json", call(sandbox, method, None, raw=b'{"channel": '))
    expect("json_not_object", call(sandbox, method, None, raw=b"[]"))
    for error, arguments in PROVOKE.get(method, []):
        filled = {k: _place(v, places) for k, v in arguments.items()}
        expect(error, call(sandbox, method, filled))
    limits = {
        "enabled": True,
        "tier1": 0.01,
        "tier2": 0.01,
        "tier3": 0.01,
        "tier4": 0.01,
        "post_per_second": 0.01,
        "post_burst": 1,
    }
    httpx.post(f"{sandbox.url}/_sandbox/config", json={"slack_rate_limits": limits})
    try:
        call(sandbox, method, {})  # the one call allowed
        expect("ratelimited", call(sandbox, method, {}))
    finally:
        httpx.post(f"{sandbox.url}/_sandbox/config", json={"slack_rate_limits": {}})
    return seen


# -- the tests ----------------------------------------------------------------------------------


def test_the_methods_canary_calls_are_found_in_its_code() -> None:
    found = canary_methods()
    # A floor, so a grep that finds nothing cannot pass for a check of nothing.
    assert {
        "chat.postMessage",
        "chat.update",
        "conversations.history",
        "conversations.list",
        "users.lookupByEmail",
        "usergroups.users.list",
        "auth.test",
    } <= found
    assert found <= set(METHOD_ERRORS), f"not served by the sandbox: {found - set(METHOD_ERRORS)}"


@pytest.mark.parametrize("method", sorted(canary_methods()))
def test_a_success_has_every_field_slack_requires(
    slack: WebClient, posted: dict[str, Any], method: str
) -> None:
    answer = SUCCESS[method](slack, posted)
    assert answer["ok"] is True
    schema = operation(method)["responses"]["200"]["schema"]
    assert missing(schema, answer.data) == []


@pytest.mark.parametrize("method", sorted(canary_methods()))
def test_every_error_the_sandbox_answers_is_one_slack_lists(
    sandbox: SandboxServer, slack: WebClient, posted: dict[str, Any], method: str
) -> None:
    plain = slack.chat_postMessage(channel=posted["channel"], text="no blocks")
    human = sandbox.sandbox.slack.post(posted["channel"], "from a person", None, user="U0DAN")
    assert human["user"] != BOT_USER
    places = {**posted, "plain_ts": plain["ts"], "human_ts": human["ts"], **view_places(sandbox)}

    seen = provoke(sandbox, method, places)

    assert set(seen) == METHOD_ERRORS[method], "every error the sandbox may answer, provoked"
    assert {e: s for e, s in seen.items() if s != 200} == {"ratelimited": 429}
    listed = described_errors(method)
    beyond = {e for e, (methods, _) in BEYOND_DESCRIPTION.items() if method in methods}
    assert set(seen) - listed - beyond == set(), "not in Slack's description of the method"


def test_what_goes_beyond_the_description_is_only_what_it_lacks() -> None:
    already = [
        (error, method)
        for error, (methods, _) in BEYOND_DESCRIPTION.items()
        for method in methods
        if error in described_errors(method)
    ]
    assert already == []
