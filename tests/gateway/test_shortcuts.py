"""Canary's shortcuts on a live stack: used on the sandbox's Slack, delivered signed to the
gateway's ``POST /slack/actions`` as Slack delivers shortcuts, answered through the real bolt
app (the report form it opens, its submission, the answer), with a real worker on a real dev
server. The gateway knows its workspace and app, so a shortcut for another is refused."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.testing import WorkflowEnvironment

from starter.intake import get_status
from tests.gateway.test_slash_command import choose_type, inputs, started_with
from tests.helpers import eventually, slack_headers
from tests.stack import SIGNING_SECRET, LiveStack, live_stack
from workflows import remediation_id

pytestmark = pytest.mark.asyncio
#: "What happened" holds at most this many characters (a detection's whole message).
FIELD_LIMIT = 2000


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(
        dev_env.client, slack_team_id="T0ACMEGTM", slack_app_id="A0CANARY"
    ) as live:
        yield live


async def last_id(stack: LiveStack) -> int:
    return max((r["id"] for r in await stack.requests()), default=0)


async def form_open(stack: LiveStack, user: str) -> dict[str, Any]:
    found = await eventually(
        lambda: stack.form(user),
        lambda view: view is not None and view["callback_id"] == "canary:report",
    )
    assert found is not None
    return found


async def posted(stack: LiveStack, mark: int, to: str | None = None) -> list[dict[str, Any]]:
    """What Canary posted to Slack (chat.*) after record ``mark``; with ``to``, only what it
    said to that person (ephemeral, or in their direct messages), not the worker's alerts."""
    calls = await stack.requests(service="slack", path_prefix="/api/chat.", since_id=mark)
    return [
        c
        for c in calls
        if c["path"] != "/api/chat.getPermalink"
        and (to is None or to in (c["body"].get("user"), c["body"].get("channel")))
    ]


async def opened(stack: LiveStack, mark: int) -> list[dict[str, Any]]:
    return list(await stack.requests(service="slack", path="/api/views.open", since_id=mark))


async def say(stack: LiveStack, user: str, channel: str, text: str) -> dict[str, Any]:
    """``user`` posts ``text`` in ``channel`` from the chat page's message box."""
    sent = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/command",
        data={"user": user, "channel": channel, "text": text},
    )
    assert sent.status_code == 303
    messages = await stack.messages(channel)
    return next(m for m in reversed(messages) if m.get("user") == user)


async def test_the_global_shortcut_opens_the_report_form_and_answers_in_a_dm(
    stack: LiveStack,
) -> None:
    mark = await last_id(stack)
    used = await stack.shortcut("U0BOB", "canary_report")
    assert used["status"] == 200, used
    [sent] = await stack.requests(service="interactivity", since_id=mark)
    assert sent["headers"]["x-slack-signature"].startswith("v0=")
    assert sent["body"]["payload"]["type"] == "shortcut"
    form = await form_open(stack, "U0BOB")
    assert json.loads(form["private_metadata"]) == {"c": None}
    assert "initial_value" not in inputs(form)["what_happened"]["element"]

    await choose_type(stack, "U0BOB", "payment_failed")
    submitted = await stack.submit(
        "U0BOB", {"subject_id": "in_ShortcutGlobal1", "what_happened": "Declined twice today"}
    )
    assert submitted["closed"], submitted

    workflow_id = remediation_id("payment_failed", "invoice", "in_ShortcutGlobal1")
    await eventually(lambda: get_status(stack.client, workflow_id), lambda s: s is not None)
    reported = await started_with(stack.client, workflow_id)
    assert reported["source"] == "slack" and reported["reported_by"] == "U0BOB"
    assert reported["message"] == "Declined twice today" and reported["links"] == []
    # No channel to answer in: the answer is Bob's direct message with the app.
    calls = await eventually(lambda: posted(stack, mark, to="U0BOB"), lambda found: bool(found))
    [dm] = calls
    assert dm["path"] == "/api/chat.postMessage"
    assert dm["body"]["channel"] == "U0BOB" and dm["response"]["ok"]
    assert f"Reported: `{workflow_id}`" in dm["body"]["text"]
    [shown] = (await stack.messages(dm["response"]["channel"]))[-1:]
    assert shown["channel"] == "D0BOB" and workflow_id in shown["text"]


async def test_the_message_shortcut_prefills_the_message_as_text_and_answers_in_its_channel(
    stack: LiveStack,
) -> None:
    head = "<!channel> *bold* &lt;b&gt; "
    message = await say(stack, "U0DAN", "revops", head + "x" * (5000 - len(head)))
    assert len(message["text"]) == 5000
    typed = "<!channel> *bold* <b> " + "x" * 5000
    mark = await last_id(stack)

    used = await stack.shortcut("U0CAROL", "canary_report_message", message)
    assert used["status"] == 200, used
    [sent] = await stack.requests(service="interactivity", since_id=mark)
    assert sent["body"]["payload"]["type"] == "message_action"
    form = await form_open(stack, "U0CAROL")
    prefilled = inputs(form)["what_happened"]["element"]
    # As typed (Slack's &lt; undone, the mention and the stars as written), cut to the field.
    assert prefilled["initial_value"] == typed[: FIELD_LIMIT - 1] + "…"
    assert len(prefilled["initial_value"]) == prefilled["max_length"] == FIELD_LIMIT
    assert json.loads(form["private_metadata"]) == {"c": "C0REVOPS", "m": message["ts"]}

    # Choosing the type keeps the text and the message.
    _, chosen = await choose_type(stack, "U0CAROL", "stage_mismatch")
    assert (
        inputs(chosen)["what_happened"]["element"]["initial_value"] == (prefilled["initial_value"])
    )
    assert json.loads(chosen["private_metadata"]) == {"c": "C0REVOPS", "m": message["ts"]}
    # Submitted without touching "What happened": Slack sends the text it holds.
    submitted = await stack.submit("U0CAROL", {"subject_id": "006SHORTCUTMSG1"})
    assert submitted["closed"], submitted

    workflow_id = remediation_id("stage_mismatch", "opportunity", "006SHORTCUTMSG1")
    await eventually(lambda: get_status(stack.client, workflow_id), lambda s: s is not None)
    reported = await started_with(stack.client, workflow_id)
    assert reported["message"] == prefilled["initial_value"]
    assert reported["reported_by"] == "U0CAROL"
    # The report links the message: Slack's permalink for the ids the form kept.
    [asked] = await stack.requests(service="slack", path="/api/chat.getPermalink", since_id=mark)
    assert (asked["body"]["channel"], asked["body"]["message_ts"]) == ("C0REVOPS", message["ts"])
    permalink = asked["response"]["permalink"]
    assert permalink.endswith(f"/archives/C0REVOPS/p{message['ts'].replace('.', '')}")
    assert reported["links"] == [{"label": "The Slack message reported", "url": permalink}]
    # Carol is answered in #revops, alone; nothing Canary posted carries the raw mention.
    [answer] = await eventually(
        lambda: posted(stack, mark, to="U0CAROL"), lambda found: bool(found)
    )
    assert answer["path"] == "/api/chat.postEphemeral"
    assert answer["body"]["channel"] == "C0REVOPS" and answer["body"]["user"] == "U0CAROL"
    assert f"Reported: `{workflow_id}`" in answer["body"]["text"]
    assert not any("<!channel>" in json.dumps(c["body"]) for c in await posted(stack, mark))


def signed_payload(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = f"payload={quote(json.dumps(payload))}".encode()
    return body, slack_headers(body, SIGNING_SECRET)


def a_shortcut(stack: LiveStack, kind: str, **changed: Any) -> dict[str, Any]:
    """A shortcut as Slack sends it (``shortcut`` or ``message_action``), with a trigger the
    sandbox's Slack issued, so a form would open if the gateway let it through."""
    with stack.sandbox.sandbox.slack.lock:
        trigger = stack.sandbox.sandbox.slack.views.issue_trigger("U0BOB")
    payload: dict[str, Any] = {
        "type": kind,
        "token": "x",
        "action_ts": "1700000000.000001",
        "team": {"id": "T0ACMEGTM", "domain": "acme-gtm"},
        "user": {"id": "U0BOB", "username": "bob", "team_id": "T0ACMEGTM"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": "canary_report" if kind == "shortcut" else "canary_report_message",
        "trigger_id": trigger,
    }
    if kind == "message_action":
        payload |= {
            "channel": {"id": "C0GTMALERTS", "name": "gtm-alerts"},
            "message_ts": "1700000000.000100",
            "message": {"type": "message", "text": "forged", "ts": "1700000000.000100"},
            "response_url": f"{stack.sandbox.url}/_sandbox/slack/respond/none",
        }
    return payload | changed


async def test_a_shortcut_for_another_workspace_or_app_is_refused(
    stack: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="canary.gateway")
    url = f"{stack.gateway_url}/slack/actions"
    body, headers = signed_payload(a_shortcut(stack, "shortcut"))
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert (await stack.http.post(url, content=body, headers=forged)).status_code == 401
    unsigned = {"Content-Type": headers["Content-Type"]}
    assert (await stack.http.post(url, content=body, headers=unsigned)).status_code == 401

    mark = await last_id(stack)
    other_team = {"team": {"id": "T0OTHER", "domain": "other"}}
    refused = [
        a_shortcut(stack, "shortcut", **other_team),
        a_shortcut(stack, "message_action", **other_team),
        a_shortcut(stack, "shortcut", api_app_id="A0OTHER"),
    ]
    for payload in refused:
        body, headers = signed_payload(payload)
        answered = await stack.http.post(url, content=body, headers=headers)
        assert answered.status_code == 200 and not answered.text

    def refusals(lines: list[str]) -> list[str]:
        return [line for line in lines if " refused: " in line and "shortcut" in line]

    lines = await eventually(
        lambda: asyncio.sleep(0, [r.getMessage() for r in caplog.records]),
        lambda found: len(refusals(found)) == 3,
    )
    assert refusals(lines) == [
        "shortcut canary_report refused: it came from another Slack workspace (T0OTHER)",
        "shortcut canary_report_message refused: it came from another Slack workspace (T0OTHER)",
        "shortcut canary_report refused: it came through another Slack app (A0OTHER)",
    ]
    # Nothing opened and nothing was said.
    assert await opened(stack, mark) == [] and await posted(stack, mark, to="U0BOB") == []
    assert await stack.form("U0BOB") is None


async def test_an_unknown_shortcut_is_acknowledged_and_does_nothing(
    stack: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="canary.gateway")
    message = await say(stack, "U0ERIN", "finance", "Hooli paid twice")
    mark = await last_id(stack)

    for on in (None, message):
        used = await stack.shortcut("U0ERIN", "canary_delete_everything", on)
        # Acknowledged (Slack shows no error and sends it once), not a 404.
        assert used == {"status": 200, "body": ""}

    lines = await eventually(
        lambda: asyncio.sleep(0, [r.getMessage() for r in caplog.records]),
        lambda found: sum("is not one of Canary's" in line for line in found) == 2,
    )
    assert "shortcut 'canary_delete_everything' (shortcut) is not one of Canary's" in "\n".join(
        lines
    )
    await asyncio.sleep(0.5)  # what a listener would have done after its ack
    assert await opened(stack, mark) == [] and await posted(stack, mark, to="U0ERIN") == []
    assert await stack.form("U0ERIN") is None


async def test_a_shortcut_delivered_again_opens_one_form_and_a_late_one_says_so(
    stack: LiveStack,
) -> None:
    mark = await last_id(stack)
    assert (await stack.shortcut("U0FRANK", "canary_report"))["status"] == 200
    first = await form_open(stack, "U0FRANK")
    # The same request again (its trigger already used): the form stays as it is, unsaid.
    [sent] = await stack.requests(service="interactivity", since_id=mark)
    body, headers = signed_payload(sent["body"]["payload"])
    again = await stack.http.post(
        f"{stack.gateway_url}/slack/actions", content=body, headers=headers
    )
    assert again.status_code == 200
    both = await eventually(lambda: opened(stack, mark), lambda calls: len(calls) == 2)
    assert [c["response"].get("error") for c in both] == [None, "exchanged_trigger_id"]
    await asyncio.sleep(0.3)  # what the listener would say after Slack's answer
    views = await stack.sandbox_get("/_sandbox/slack/views", user="U0FRANK")
    assert [v["id"] for v in views["modals"]] == [first["id"]]
    assert await posted(stack, mark, to="U0FRANK") == []

    # A message shortcut whose trigger expired (3 s): Slack does not open the form, and the
    # person is told where they used it.
    message = await say(stack, "U0DAN", "gtm-alerts", "Stripe says paid, Salesforce disagrees")
    late = a_shortcut(stack, "message_action", user={"id": "U0DAN", "name": "dan"})
    late |= {
        "channel": {"id": "C0GTMALERTS", "name": "gtm-alerts"},
        "message_ts": message["ts"],
        "message": {"type": "message", "text": message["text"], "ts": message["ts"]},
    }
    await asyncio.sleep(3.2)
    mark = await last_id(stack)
    body, headers = signed_payload(late)
    answered = await stack.http.post(
        f"{stack.gateway_url}/slack/actions", content=body, headers=headers
    )
    assert answered.status_code == 200
    [told] = await eventually(lambda: posted(stack, mark, to="U0DAN"), lambda found: bool(found))
    assert told["path"] == "/api/chat.postEphemeral"
    assert told["body"]["channel"] == "C0GTMALERTS" and told["body"]["user"] == "U0DAN"
    assert told["body"]["text"] == (
        ":no_entry_sign: Slack did not open the form (expired_trigger_id); try again."
    )
    assert await stack.form("U0DAN") is None
