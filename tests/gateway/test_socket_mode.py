"""The gateway in Socket Mode (``SLACK_APP_TOKEN`` set), on a live stack: slack-bolt's Socket
Mode handler connects to the sandbox's Slack, and chat-page clicks, slash commands, shortcuts
and the Home tab's ``app_home_opened`` reach the same listeners over the socket instead of
HTTP, with a real worker on a real Temporal dev server. The gateway knows its workspace and app
(``SLACK_TEAM_ID`` / ``SLACK_APP_ID``), so what comes for another one is refused, over the
socket as over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from canary.blocks.home import home_owner
from canary.settings import Settings
from sandbox.slack.home import app_home_opened
from starter.gateway.app import create_app
from starter.gateway.slack.socket_mode import SocketModeRefused
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.gateway.test_slash_command import choose_type, started_with
from tests.helpers import eventually, slack_headers
from tests.stack import SIGNING_SECRET, SLACK_TOKEN, LiveStack, live_stack
from tests.workflow.test_end_to_end import alert_for, has_buttons
from workflows import remediation_id

pytestmark = pytest.mark.asyncio
APP_TOKEN = "xapp-1-A0CANARY-1-gateway"


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(
        dev_env.client,
        slack_app_token=APP_TOKEN,
        slack_team_id="T0ACMEGTM",  # the sandbox workspace's
        slack_app_id="A0CANARY",
    ) as live:
        yield live


async def socket_records(stack: LiveStack, method: str) -> list[dict[str, Any]]:
    return [r["body"] for r in await stack.requests(service="socket_mode", method=method)]


async def alert(stack: LiveStack) -> tuple[str, str, dict[str, Any]]:
    """A failed payment's alert with its buttons: (the invoice, the workflow id, the message)."""
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[0])
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    messages = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: has_buttons(alert_for(ms, workflow_id) or {}),
        timeout=30,
    )
    message = alert_for(messages, workflow_id)
    assert message is not None
    return invoice, workflow_id, message


async def test_the_gateway_connects_with_the_app_token(stack: LiveStack) -> None:
    [opened] = await stack.requests(service="slack", path="/api/apps.connections.open")
    assert opened["status"] == 200 and opened["headers"]["authorization"].startswith("Bearer xapp-")
    hello = (await socket_records(stack, "HELLO"))[0]
    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A0CANARY"}


def clicked_value(envelope: dict[str, Any]) -> str | None:
    """The button value a click envelope carries (None for a form's submission)."""
    actions = envelope["payload"].get("actions") or [{}]
    return actions[0].get("value")


async def test_a_click_over_the_socket_resolves_a_remediation(stack: LiveStack) -> None:
    _, workflow_id, message = await alert(stack)

    click = await stack.click("U0ALICE", message, "canary:resolve")
    assert click["status"] == 200
    # Mark resolved asks what fixed it (optional) in a form; its submission goes over the
    # socket too.
    submitted = await stack.submit("U0ALICE", {"reason_text": "The payer changed card"})
    assert submitted["closed"], submitted

    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
    )
    assert status.outcome == "resolved_by_human"
    assert status.close_reason == "The payer changed card"
    # The click and the form went as interactive envelopes, acknowledged, never over HTTP.
    envelopes = await socket_records(stack, "SEND")
    [sent] = [s for s in envelopes if clicked_value(s) == workflow_id]
    assert any(
        s["payload"]["type"] == "view_submission"
        and workflow_id in s["payload"]["view"]["private_metadata"]
        for s in envelopes
    )
    assert sent["type"] == "interactive" and sent["payload"]["user"]["id"] == "U0ALICE"
    acks = await socket_records(stack, "ACK")
    assert sent["envelope_id"] in {a["envelope_id"] for a in acks}
    assert await stack.requests(service="interactivity") == []
    # What Slack saw afterwards: the alert without its buttons, Alice told in an ephemeral
    # (the form's answer, where the alert is).
    final = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: not has_buttons(alert_for(ms, workflow_id) or message),
    )
    assert alert_for(final, workflow_id) is not None
    answers = await stack.sandbox_get("/_sandbox/slack/ephemeral", user="U0ALICE")
    assert any(a["text"].startswith("Done: resolved") for a in answers)


async def test_a_click_whose_ack_was_lost_is_delivered_again_and_acts_once(
    stack: LiveStack,
) -> None:
    invoice, workflow_id, message = await alert(stack)
    await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/socket/faults", json={"lose_acks": 1}
    )
    mark = max(r["id"] for r in await stack.requests())

    click = await stack.click("U0ALICE", message, "canary:retry")

    # The gateway acknowledged, but Slack never heard: the person is told the app did not
    # answer, and Slack sends the same envelope again.
    assert click["status"] == 408
    sent = await eventually(
        lambda: socket_records(stack, "SEND"),
        lambda ss: any(s["retry_attempt"] == 1 and clicked_value(s) == workflow_id for s in ss),
    )
    first, again = [s for s in sent if clicked_value(s) == workflow_id]
    assert again["envelope_id"] == first["envelope_id"] and again["payload"] == first["payload"]
    assert (again["retry_attempt"], again["retry_reason"]) == (1, "timeout")
    # Both deliveries ran the listener to its answer to Alice...
    answers = await eventually(
        lambda: stack.requests(path="/_sandbox/slack/respond", since_id=mark),
        lambda rs: len(rs) == 2,
    )
    assert answers[0]["body"]["text"] == answers[1]["body"]["text"]
    # ...and the remediation retried once: one attempt, one pay call from Canary.
    status = await get_status(stack.client, workflow_id)
    assert status is not None and status.attempts == 1
    pays = await stack.requests(service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay")
    ours = [p for p in pays if (p["idempotency_key"] or "").startswith(f"canary/{workflow_id}/")]
    assert len(ours) == 1


async def test_after_a_refresh_the_gateway_reconnects_and_takes_the_next_click(
    stack: LiveStack,
) -> None:
    before = await stack.sandbox_get("/_sandbox/slack/socket")
    [old] = [c["id"] for c in before["connections"] if c["closed_at"] is None]

    told = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/socket/disconnect",
        json={"reason": "refresh_requested"},
    )

    assert told.json() == {"told": [old]}
    after = await eventually(
        lambda: stack.sandbox_get("/_sandbox/slack/socket"),
        lambda s: s["open"] == 1 and s["connections"][-1]["id"] != old,
    )
    assert next(c for c in after["connections"] if c["id"] == old)["closed_at"] is not None
    opened = await stack.requests(service="slack", path="/api/apps.connections.open")
    assert len(opened) >= 2

    _, workflow_id, message = await alert(stack)
    click = await stack.click("U0ALICE", message, "canary:resolve")
    assert click["status"] == 200
    assert (await stack.submit("U0ALICE", {}))["closed"]
    await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
    )
    sent = await socket_records(stack, "SEND")
    assert sent[-1]["connection"] == after["connections"][-1]["id"]


async def test_a_bot_token_as_app_token_stops_the_gateway(
    stack: LiveStack, dev_env: WorkflowEnvironment
) -> None:
    settings = Settings(
        slack_bot_token=SLACK_TOKEN,
        slack_app_token=SLACK_TOKEN,
        slack_api_url=f"{stack.sandbox.url}/api/",
    )
    app = create_app(settings, temporal=dev_env.client)

    with pytest.raises(SocketModeRefused, match="not_allowed_token_type"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_slash_command_over_the_socket(stack: LiveStack) -> None:
    """``/canary help`` goes as a ``slash_commands`` envelope; the answer rides its ack."""
    typed = await stack.command("U0BOB", "help")
    assert typed["status"] == 200
    [sent] = [e for e in await socket_records(stack, "SEND") if e["type"] == "slash_commands"][-1:]
    assert sent["payload"]["command"] == "/canary" and sent["payload"]["text"] == "help"
    assert sent["accepts_response_payload"] is True
    [acked] = [
        a for a in await socket_records(stack, "ACK") if a["envelope_id"] == sent["envelope_id"]
    ]
    assert "/canary report" in acked["payload"]["text"]
    shown = await stack.sandbox_get("/_sandbox/slack/ephemeral", user="U0BOB")
    assert "/canary report" in shown[-1]["text"]
    assert await stack.requests(service="commands") == []  # nothing over HTTP


async def publishes(stack: LiveStack, user: str, since_id: int) -> list[dict[str, Any]]:
    """The views.publish calls for ``user``'s Home after record ``since_id``, answered ok."""
    calls = await stack.requests(service="slack", path="/api/views.publish", since_id=since_id)
    return [c for c in calls if c["body"].get("user_id") == user and c["status"] == 200]


def published_view(call: dict[str, Any]) -> dict[str, Any]:
    view = call["body"]["view"]
    return dict(json.loads(view) if isinstance(view, str) else view)


async def test_app_home_opened_over_the_socket_publishes_the_openers_home(
    stack: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="canary.gateway")
    _, workflow_id, _ = await alert(stack)
    mark = max(r["id"] for r in await stack.requests())

    # Dan (RevOps, who may act on a failed payment) opens the app's Home tab.
    opened = await stack.http.post(f"{stack.sandbox.url}/_sandbox/slack/home/open?user=U0DAN")
    assert opened.json()["status"] == 200, opened.text

    # It went as an events_api envelope, acknowledged, and nothing went over HTTP.
    sent = [
        e
        for e in await socket_records(stack, "SEND")
        if e["type"] == "events_api" and e["payload"]["event"]["type"] == "app_home_opened"
    ]
    assert [e["payload"]["event"]["user"] for e in sent][-1:] == ["U0DAN"]
    envelope = sent[-1]
    assert (
        envelope["payload"]["type"] == "event_callback"
        and envelope["payload"]["event"]["tab"] == "home"
    )
    assert envelope["accepts_response_payload"] is False
    acks = await socket_records(stack, "ACK")
    assert envelope["envelope_id"] in {a["envelope_id"] for a in acks}
    assert await stack.requests(service="events") == []
    # The listener published Dan's Home, with the new alert waiting for him and its buttons.
    await eventually(
        lambda: asyncio.sleep(0, [r.getMessage() for r in caplog.records]),
        lambda lines: "published U0DAN's Home tab" in lines,
        timeout=30,
    )
    [*_, call] = await publishes(stack, "U0DAN", mark)
    view = published_view(call)
    assert view["type"] == "home" and home_owner(view) == "U0DAN"
    assert workflow_id in json.dumps(view["blocks"])
    home = await stack.sandbox_get("/_sandbox/slack/views", user="U0DAN")
    assert home["home"]["blocks"] == view["blocks"]


async def test_app_home_opened_for_another_team_or_app_is_refused_over_the_socket_as_over_http(
    stack: LiveStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="canary.gateway")
    await alert(stack)
    mark = max(r["id"] for r in await stack.requests())
    with stack.sandbox.sandbox.slack.lock:
        genuine = app_home_opened(stack.sandbox.sandbox.slack, "U0DAN")
    foreign = [{**genuine, "team_id": "T0OTHER"}, {**genuine, "api_app_id": "A0OTHER"}]

    for payload in foreign:
        # Over the socket: Slack's envelope, acknowledged (an event always is) ...
        answer = await stack.http.post(
            f"{stack.sandbox.url}/_sandbox/slack/socket/envelopes", json={"payload": payload}
        )
        assert answer.json()["delivered"] and answer.json()["acked"], answer.text
        # ... and over HTTP: the same event, signed, to the gateway's events URL.
        body = json.dumps(payload).encode()
        headers = {**slack_headers(body, SIGNING_SECRET), "Content-Type": "application/json"}
        posted = await stack.http.post(
            f"{stack.gateway_url}/slack/actions", content=body, headers=headers
        )
        assert posted.status_code == 200

    def refusals(lines: list[str]) -> list[str]:
        return [line for line in lines if line.startswith("app_home_opened refused")]

    refused = await eventually(
        lambda: asyncio.sleep(0, [r.getMessage() for r in caplog.records]),
        lambda lines: len(refusals(lines)) == 4,
    )
    assert sorted(refusals(refused)) == sorted(
        2 * ["app_home_opened refused: it came from another Slack workspace (T0OTHER)",
             "app_home_opened refused: it came through another Slack app (A0OTHER)"]
    )  # fmt: skip
    # Dan's own Home tab, opened from Canary's workspace, is published (over the socket):
    # the refusals were about where the event came from, not about him.
    opened = await stack.http.post(f"{stack.sandbox.url}/_sandbox/slack/home/open?user=U0DAN")
    assert opened.json()["status"] == 200
    # (The worker publishes Homes too, as remediations change: the gateway's log says
    # which publishing answered an opening.)
    await eventually(lambda: publishes(stack, "U0DAN", mark), lambda calls: len(calls) >= 1)
    logged = await eventually(
        lambda: asyncio.sleep(0, [r.getMessage() for r in caplog.records]),
        lambda lines: "published U0DAN's Home tab" in lines,
    )
    published = logged.count("published U0DAN's Home tab")
    assert published == 1, "only the genuine opening published a Home"


def shortcut_envelopes(envelopes: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [
        e
        for e in envelopes
        if e["payload"].get("type") == "shortcut" and e["payload"]["user"]["id"] == user
    ]


async def test_the_global_shortcut_over_the_socket_reports_and_answers_in_a_dm(
    stack: LiveStack,
) -> None:
    mark = max(r["id"] for r in await stack.requests())
    used = await stack.shortcut("U0CAROL", "canary_report")
    assert used["status"] == 200, used
    [sent] = shortcut_envelopes(await socket_records(stack, "SEND"), "U0CAROL")
    assert sent["type"] == "interactive" and sent["accepts_response_payload"] is False
    assert sent["payload"]["callback_id"] == "canary_report"
    assert sent["envelope_id"] in {a["envelope_id"] for a in await socket_records(stack, "ACK")}
    form = await eventually(lambda: stack.form("U0CAROL"), lambda found: found is not None)
    assert form is not None and form["callback_id"] == "canary:report"

    await choose_type(stack, "U0CAROL", "payment_failed")
    submitted = await stack.submit(
        "U0CAROL", {"subject_id": "in_ShortcutSocket1", "what_happened": "Declined on renewal"}
    )
    assert submitted["closed"], submitted
    workflow_id = remediation_id("payment_failed", "invoice", "in_ShortcutSocket1")
    await eventually(lambda: get_status(stack.client, workflow_id), lambda s: s is not None)
    reported = await started_with(stack.client, workflow_id)
    assert reported["reported_by"] == "U0CAROL" and reported["source"] == "slack"
    # Carol is told in her direct messages with the app (no channel to answer in).
    dms = await eventually(
        lambda: stack.requests(service="slack", path="/api/chat.postMessage", since_id=mark),
        lambda calls: any(c["body"].get("channel") == "U0CAROL" for c in calls),
    )
    [dm] = [c for c in dms if c["body"].get("channel") == "U0CAROL"]
    assert dm["response"]["channel"] == "D0CAROL" and workflow_id in dm["body"]["text"]
    assert await stack.requests(service="interactivity") == []  # nothing over HTTP


async def test_a_shortcut_whose_ack_was_lost_is_delivered_again_and_opens_one_form(
    stack: LiveStack,
) -> None:
    mark = max(r["id"] for r in await stack.requests())
    await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/socket/faults", json={"lose_acks": 1}
    )
    used = await stack.shortcut("U0FRANK", "canary_report")
    assert used["status"] == 408  # Slack never heard the ack: it sends the envelope again
    sent = await eventually(
        lambda: socket_records(stack, "SEND"),
        lambda found: len(shortcut_envelopes(found, "U0FRANK")) == 2,
    )
    first, again = shortcut_envelopes(sent, "U0FRANK")
    assert again["envelope_id"] == first["envelope_id"] and again["retry_attempt"] == 1
    opened = await eventually(
        lambda: stack.requests(service="slack", path="/api/views.open", since_id=mark),
        lambda calls: len(calls) == 2,
    )
    # The second delivery's trigger was used by the first: the form is open once, unsaid.
    assert [c["response"].get("error") for c in opened] == [None, "exchanged_trigger_id"]
    await asyncio.sleep(0.3)
    views = await stack.sandbox_get("/_sandbox/slack/views", user="U0FRANK")
    assert len(views["modals"]) == 1
    told = await stack.requests(service="slack", path_prefix="/api/chat.", since_id=mark)
    assert not [c for c in told if "U0FRANK" in (c["body"].get("channel"), c["body"].get("user"))]
