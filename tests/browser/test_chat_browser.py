"""The sandbox's chat page and Home tab in a real browser, as a person uses them: Debian's
headless Chromium, driven over the DevTools protocol (``chromium.Browser``), presses the
buttons with the mouse, picks from the modal's select and types into its fields, on a live
stack (tests/stack.py: the sandbox, the gateway, a worker with the real activities, a real
Temporal dev server).

- On the chat page, Alice (the owner) presses Dismiss on an alert: Canary's form opens as a
  modal; sent empty, it shows the app's field error under the field, as Slack does; with a
  reason picked from the SOP's choices, it closes and the alert becomes the record (its
  Outcome: dismissed by her, with the reason). The sandbox recorded the click, both
  view_submissions (the first answered with ``response_action: errors``), views.open and the
  alert's chat.update.
- On her Home tab, the remediation is listed with the alert's buttons; Mark resolved there
  opens its form over the tab, and the remediation closes exactly as from the alert: the same
  record on the alert, the Home published again with it among the closed ones.
- Bob types ``/canary report`` in the channel's message box: the report form opens; choosing
  the error type sends the choice at once (its block says ``dispatch_action``) and the form
  becomes that type's (the invoice's label for payment_failed), keeping what he had typed;
  sent, it starts the remediation, reported by him.
- Carol picks Report this to Canary in the "…" menu of Dan's message: the same form opens with
  his message as What happened; sent, it starts the remediation, linked to the message, and
  she is answered in that channel.

Without Chromium these tests fail, as the other browser tests do (``make browser`` installs it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.testing import WorkflowEnvironment

from canary.catalog import cached_catalog
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.browser.chromium import Browser, Node
from tests.gateway.test_slash_command import started_with
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from tests.workflow.test_end_to_end import alert_for, has_buttons
from workflows import remediation_id

pytestmark = pytest.mark.asyncio
ALICE = "U0ALICE"
#: Initech's card is expired: its alert waits for a person, Alice (its owner in Salesforce).
INITECH = CUSTOMERS[1]
#: The payment_failed SOP's reasons to dismiss (canary/catalog/sops/default.yaml).
DISMISS_REASONS = [
    "Paid another way (wire, check)",
    "Written off",
    "The customer churned or canceled",
    "Duplicate of another alert",
]

#: The fields of a view an app sends (views.update), as the sandbox answers them.
VIEW_FIELDS = ("type", "callback_id", "title", "submit", "close", "private_metadata", "blocks")


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as live:
        yield live


async def alert(stack: LiveStack) -> tuple[str, dict[str, Any]]:
    """A new failed payment of Initech's and its alert, once it carries its buttons."""
    invoice = await asyncio.to_thread(fail_a_payment, stack.stripe, INITECH)
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    messages = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: has_buttons(alert_for(ms, workflow_id) or {}),
        timeout=30,
    )
    message = alert_for(messages, workflow_id)
    assert message is not None
    return workflow_id, message


def article(dom: Node, ts: str) -> Node | None:
    """The message ``ts`` on the chat page."""
    found = dom.all("article", id=f"m{ts}")
    return found[0] if found else None


def buttons(node: Node) -> dict[str, str]:
    """The buttons of the forms under ``node``: action id → label."""
    pressed = {}
    for form in node.all("form"):
        action = [i.attrs["value"] for i in form.all("input", name="action_id")]
        labels = [b.text().strip() for b in form.all("button")]
        if action and labels:
            pressed[action[0]] = labels[0]
    return pressed


def modal(dom: Node) -> Node | None:
    found = dom.all("dialog", cls="modal")
    return found[0] if found else None


def field_error(dom: Node, block_id: str) -> str | None:
    """The error the modal shows under its field ``block_id``."""
    shown = modal(dom)
    if shown is None:
        return None
    for field in shown.all("div", cls="field", data_block_id=block_id):
        for error in field.all("div", cls="field-error"):
            return error.text().strip()
    return None


def press_button(action_id: str, value: str, within: str = "") -> str:
    """A selector for the button of the form that sends ``action_id`` with ``value``."""
    return (
        f'{within} form:has(input[name="action_id"][value="{action_id}"])'
        f':has(input[name="value"][value="{value}"]) button'
    ).strip()


async def interactions(stack: LiveStack, workflow_id: str) -> list[dict[str, Any]]:
    """What the sandbox delivered to the gateway about ``workflow_id`` (clicks and form
    submissions), with the gateway's answers, oldest first."""
    found = []
    for record in await stack.requests(service="interactivity"):
        payload = record["body"]["payload"]
        clicked = json.dumps(payload.get("actions") or [])
        form = (payload.get("view") or {}).get("private_metadata") or ""
        if workflow_id in clicked or (payload["type"] == "view_submission" and workflow_id in form):
            found.append(record)
    return found


async def updates_of(stack: LiveStack, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's and the worker's chat.update calls on ``message``, answered ok."""
    calls = await stack.requests(service="slack", path="/api/chat.update")
    return [
        c["body"]
        for c in calls
        if c["body"].get("ts") == message["ts"] and c["status"] == 200 and c["response"]["ok"]
    ]


async def test_a_dismissal_on_the_chat_page_asks_why_and_the_alert_becomes_the_record(
    stack: LiveStack, tmp_path: Path
) -> None:
    workflow_id, message = await alert(stack)
    ts = message["ts"]
    page = f"{stack.sandbox.url}/?channel=gtm-alerts&as={ALICE}"

    async with Browser(tmp_path) as browser:
        await browser.goto(page)
        shown = await browser.wait_for("the alert", lambda dom: article(dom, ts))
        assert buttons(shown)["canary:dismiss"] == "Dismiss"

        # Dismiss asks first: Canary's form opens as a modal over the channel.
        await browser.press(press_button("canary:dismiss", workflow_id, f'article[id="m{ts}"]'))
        form = await browser.wait_for("the Dismiss form", modal)
        assert form.one("h2").text() == "Dismiss"
        labels = [label.text() for label in form.all("label")]
        assert "Why dismiss it?" in labels[0]
        reasons = form.one("select", name="v.reason").all("option")
        assert [o.text() for o in reasons] == ["—", *DISMISS_REASONS]

        # Sent empty: the app refuses it in the form, and the page shows the error under the
        # field, as Slack shows it.
        await browser.press("dialog.modal button.primary")
        error = await browser.wait_for("the field's error", lambda dom: field_error(dom, "reason"))
        assert error == "Pick a reason or write one."

        # A reason from the SOP's choices: the modal closes, the alert becomes the record.
        await browser.choose('dialog.modal select[name="v.reason"]', "Written off")
        await browser.press("dialog.modal button.primary")

        def record(dom: Node) -> str | None:
            found = article(dom, ts)
            if modal(dom) is not None or found is None or "Outcome" not in found.text():
                return None
            assert buttons(found) == {}, "no buttons left on a closed remediation"
            return found.text()

        final = await browser.wait_for("the alert as the record", record)
    assert "dismissed by @Alice Nguyen on " in final and "— Written off" in final
    assert "What to do" not in final

    status = await get_status(stack.client, workflow_id)
    assert status is not None
    assert (status.outcome, status.close_reason) == ("dismissed", "Written off")

    # What the sandbox recorded: the click, then both submissions, as Slack sends them.
    click, empty, sent = await interactions(stack, workflow_id)
    assert click["body"]["payload"]["type"] == "block_actions"
    assert click["body"]["payload"]["user"]["id"] == ALICE
    assert click["body"]["payload"]["container"]["message_ts"] == ts
    assert [a["action_id"] for a in click["body"]["payload"]["actions"]] == ["canary:dismiss"]
    for submission in (empty, sent):
        assert submission["body"]["payload"]["type"] == "view_submission"
        assert submission["status"] == 200
    values = empty["body"]["payload"]["view"]["state"]["values"]
    assert values["reason"]["value"]["selected_option"] is None
    assert json.loads(empty["response"]) == {
        "response_action": "errors",
        "errors": {"reason": "Pick a reason or write one."},
    }
    values = sent["body"]["payload"]["view"]["state"]["values"]
    assert values["reason"]["value"]["selected_option"]["text"]["text"] == "Written off"
    assert sent["response"] == ""  # the modal closes
    opened = [
        c
        for c in await stack.requests(service="slack", path="/api/views.open")
        if workflow_id in json.dumps(c["body"].get("view"))
    ]
    assert len(opened) == 1 and opened[0]["status"] == 200
    final_update = (await updates_of(stack, message))[-1]
    assert "dismissed by <@U0ALICE>" in json.dumps(final_update["blocks"])
    assert "Written off" in json.dumps(final_update["blocks"])


async def test_the_home_tab_lists_the_remediation_and_its_buttons_act_as_on_the_alert(
    stack: LiveStack, tmp_path: Path
) -> None:
    workflow_id, message = await alert(stack)
    on_the_alert = {
        e["action_id"]: e["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id", "").startswith("canary:")
    }

    async with Browser(tmp_path) as browser:
        # Opening the tab sends app_home_opened; the page shows the Home the app publishes.
        await browser.goto(f"{stack.sandbox.url}/home?as={ALICE}")

        def listed(dom: Node) -> dict[str, str] | None:
            home = dom.all("section", cls="home")
            if not home:
                return None
            found = {
                action: label
                for form in home[0].all("form")
                if form.all("input", name="value", value=workflow_id)
                for action, label in buttons(form).items()
            }
            return found or None

        on_the_home = await browser.wait_for("the remediation on the Home tab", listed)
        assert on_the_home == on_the_alert

        # Mark resolved on the Home tab: its form opens over the tab, as on the alert.
        await browser.press(press_button("canary:resolve", workflow_id, "section.home"))
        form = await browser.wait_for("the Mark resolved form", modal)
        assert form.one("h2").text() == "Mark resolved"
        assert "What fixed it?" in form.one("label", **{"for": "f-reason_text"}).text()
        await browser.type_into('dialog.modal input[name="v.reason_text"]', "Paid by wire")
        await browser.press("dialog.modal button.primary")

        # The form closes and the page is the Home tab again.
        await browser.wait_for(
            "the Home tab without the form",
            lambda dom: modal(dom) is None and dom.all("section", cls="home"),
        )
        status = await eventually(
            lambda: get_status(stack.client, workflow_id),
            lambda s: s is not None and s.outcome is not None,
        )

        # Opening the tab again shows the Home as it is now (the worker also publishes it
        # after a change, but waits while changes keep coming).
        await browser.goto(f"{stack.sandbox.url}/home?as={ALICE}")

        def closed_on_home(dom: Node) -> str | None:
            home = dom.all("section", cls="home")
            if modal(dom) is not None or not home or "Paid by wire" not in home[0].text():
                return None
            assert not [
                f for f in home[0].all("form") if f.all("input", name="value", value=workflow_id)
            ], "no buttons left for a closed remediation"
            return home[0].text()

        home_text = await browser.wait_for("the Home published again", closed_on_home)
    assert "Closed this week" in home_text

    assert status is not None
    assert (status.outcome, status.close_reason) == ("resolved_by_human", "Paid by wire")
    # The alert became the record, exactly as when the button is pressed on it.
    final = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: not has_buttons(alert_for(ms, workflow_id) or message),
    )
    record = json.dumps(alert_for(final, workflow_id))
    assert "resolved by a person (<@U0ALICE>)" in record and "Paid by wire" in record
    assert "What to do" not in record

    # What the sandbox recorded: a click from Alice's Home view, the form opened from its
    # trigger, the submission, and her Home published again after it.
    click, sent = await interactions(stack, workflow_id)
    payload = click["body"]["payload"]
    assert payload["type"] == "block_actions" and payload["user"]["id"] == ALICE
    assert payload["container"] == {"type": "view", "view_id": payload["view"]["id"]}
    assert payload["view"]["type"] == "home" and "response_url" not in payload
    assert [(a["action_id"], a["value"]) for a in payload["actions"]] == [
        ("canary:resolve", workflow_id)
    ]
    assert sent["body"]["payload"]["type"] == "view_submission" and sent["status"] == 200
    opened = [
        c
        for c in await stack.requests(service="slack", path="/api/views.open")
        if workflow_id in json.dumps(c["body"].get("view"))
    ]
    assert len(opened) == 1 and opened[0]["status"] == 200
    publishes = [
        c
        for c in await stack.requests(service="slack", path="/api/views.publish")
        if c["body"].get("user_id") == ALICE and c["status"] == 200
    ]
    assert publishes and publishes[-1]["id"] > sent["id"]
    assert "Paid by wire" in json.dumps(publishes[-1]["body"]["view"])
    assert any(
        "resolved by a person" in json.dumps(u["blocks"]) for u in await updates_of(stack, message)
    )


async def test_report_on_the_chat_page_follows_the_type_chosen_and_starts_the_remediation(
    stack: LiveStack, tmp_path: Path
) -> None:
    bob, invoice = "U0BOB", "in_BrowserReported1"
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    form_field = 'dialog.modal [name="v.{}"]'.format

    def label(dom: Node, block_id: str) -> str | None:
        shown = modal(dom)
        found = shown.all("label", **{"for": f"f-{block_id}"}) if shown else []
        return " ".join(found[0].text().split()) if found else None

    async with Browser(tmp_path) as browser:
        await browser.goto(f"{stack.sandbox.url}/?channel=gtm-alerts&as={bob}")
        await browser.wait_for("the message box", lambda dom: dom.all("form", cls="composer"))
        await browser.type_into("form.composer input[name=text]", "/canary report")
        await browser.press("form.composer button")
        form = await browser.wait_for("the report form", modal)
        assert form.one("h2").text() == "Report an error"
        types = [o.text() for o in form.one("select", name="v.error_type").all("option")]
        assert "Payment failed on a committed deal" in types
        first = form.attrs["data-hash"]

        # What happened, typed before the type is chosen, stays: the field is the same one.
        await browser.type_into(form_field("what_happened"), "Card declined twice, seen by hand")
        await browser.choose(form_field("error_type"), "Payment failed on a committed deal")

        def typed_form(dom: Node) -> Node | None:
            shown = modal(dom)
            if shown is None or shown.attrs["data-hash"] == first:
                return None
            subject = label(dom, "subject_id")
            return shown if subject and subject.startswith("The invoice") else None

        form = await browser.wait_for("the payment_failed fields", typed_form)
        assert label(form, "subject_id") == "The invoice, payment intent or charge id"
        assert form.one("input", name="v.subject_id").attrs["placeholder"] == "in_…, pi_… or ch_…"
        assert "Stripe customer id" in (label(form, "account") or "")
        assert "Canary looks up the invoice" in form.text()
        chosen = [o for o in form.one("select").all("option") if "selected" in o.attrs]
        assert [o.attrs["value"] for o in chosen] == ["payment_failed"]
        assert form.one("textarea").text() == "Card declined twice, seen by hand"

        await browser.type_into(form_field("subject_id"), invoice)

        # The app updates the form again on its own while the invoice is typed only on the
        # page: the page draws the view with its new hash, the typed id kept in its field.
        shown = await stack.form(bob)
        assert shown is not None
        app = AsyncWebClient(
            token=stack.settings.slack_bot_token, base_url=stack.settings.slack_api_url
        )
        again = (
            await app.views_update(
                view_id=shown["id"],
                hash=shown["hash"],
                view={k: shown[k] for k in VIEW_FIELDS},
            )
        )["view"]

        def redrawn(dom: Node) -> Node | None:
            found = modal(dom)
            return (
                found if found is not None and found.attrs["data-hash"] == again["hash"] else None
            )

        form = await browser.wait_for("the form the app updated", redrawn)
        assert form.one("input", name="v.subject_id").attrs["value"] == invoice
        await browser.press("dialog.modal button.primary")

        def reported(dom: Node) -> str | None:
            notes = [" ".join(n.text().split()) for n in dom.all("div", cls="ephemeral")]
            found = [n for n in notes if workflow_id in n]
            return found[-1] if modal(dom) is None and found else None

        note = await browser.wait_for("the report's answer", reported)
    assert "Reported: " in note

    # The remediation started, from Bob's report of that type, with what he typed.
    status = await eventually(
        lambda: get_status(stack.client, workflow_id), lambda s: s is not None
    )
    assert status is not None and status.error_type == "payment_failed"
    detection = await started_with(stack.client, workflow_id)
    assert (detection["source"], detection["reported_by"]) == ("slack", bob)
    assert detection["subject"]["id"] == invoice
    assert "Card declined twice" in detection["message"]

    # What the sandbox recorded: the choice from the modal, the app's update with the hash it
    # was sent, and the submission carrying what was typed before the choice.
    sent = [
        r["body"]["payload"]
        for r in await stack.requests(service="interactivity")
        if r["body"]["payload"]["user"]["id"] == bob
    ]
    choice, submission = sent[-2:]
    assert choice["type"] == "block_actions" and choice["container"]["type"] == "view"
    [action] = choice["actions"]
    assert (action["block_id"], action["selected_option"]["value"]) == (
        "error_type",
        "payment_failed",
    )
    assert choice["view"]["state"]["values"]["what_happened"]["value"]["value"] == (
        "Card declined twice, seen by hand"
    )
    updates = [
        u["body"]
        for u in await stack.requests(service="slack", path="/api/views.update")
        if u["body"].get("view_id") == choice["view"]["id"] and u["status"] == 200
    ]
    # The gateway's, naming the hash it was sent; then the test's, as the app updating again.
    assert [u["hash"] for u in updates] == [choice["view"]["hash"], shown["hash"]]
    assert submission["type"] == "view_submission"
    values = submission["view"]["state"]["values"]
    assert values["subject_id"]["value"]["value"] == invoice
    assert values["what_happened"]["value"]["value"] == "Card declined twice, seen by hand"


async def test_report_this_to_canary_from_a_messages_menu_fills_the_form_and_answers_there(
    stack: LiveStack, tmp_path: Path
) -> None:
    """Carol opens the "…" menu of Dan's message in #revops and picks Report this to Canary:
    the report form opens with What happened holding his message as he typed it (its mention
    as text); she picks the type and the opportunity, sends it, and is answered in #revops."""
    carol, opportunity = "U0CAROL", "006BROWSERSHCT1"
    workflow_id = remediation_id("stage_mismatch", "opportunity", opportunity)
    typed = "Hooli paid <!here> but the deal is still *open*"
    said = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/command",
        data={"user": "U0DAN", "channel": "revops", "text": typed},
    )
    assert said.status_code == 303
    message = next(m for m in reversed(await stack.messages("revops")) if m["user"] == "U0DAN")
    sop = cached_catalog(stack.settings.catalog_path).get("stage_mismatch")
    assert sop is not None
    form_field = 'dialog.modal [name="v.{}"]'.format

    async with Browser(tmp_path) as browser:
        await browser.goto(f"{stack.sandbox.url}/?channel=revops&as={carol}")
        await browser.wait_for("Dan's message", lambda dom: article(dom, message["ts"]))
        menu = f'article[id="m{message["ts"]}"] details.more'
        await browser.press(f"{menu} summary")
        await browser.press(f"{menu} button")
        form = await browser.wait_for("the report form", modal)
        assert form.one("textarea").text() == typed
        first = form.attrs["data-hash"]
        await browser.choose(form_field("error_type"), sop.title)

        def typed_form(dom: Node) -> Node | None:
            shown = modal(dom)
            if shown is None or shown.attrs["data-hash"] == first:
                return None
            return shown if shown.all("input", name="v.subject_id") else None

        form = await browser.wait_for("the stage_mismatch fields", typed_form)
        assert form.one("textarea").text() == typed
        await browser.type_into(form_field("subject_id"), opportunity)
        await browser.press("dialog.modal button.primary")

        def answered(dom: Node) -> str | None:
            notes = [" ".join(n.text().split()) for n in dom.all("div", cls="ephemeral")]
            found = [n for n in notes if workflow_id in n]
            return found[-1] if modal(dom) is None and found else None

        note = await browser.wait_for("the answer in #revops", answered)
    assert "Reported: " in note
    detection = await started_with(stack.client, workflow_id)
    assert (detection["reported_by"], detection["message"]) == (carol, typed)
    [link] = detection["links"]
    assert link["url"].endswith(f"/archives/C0REVOPS/p{message['ts'].replace('.', '')}")
