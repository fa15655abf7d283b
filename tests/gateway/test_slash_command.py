"""``/canary`` on a live stack: typed on the sandbox's Slack, delivered signed to the gateway's
``POST /slack/commands`` as Slack delivers slash commands, answered through the real bolt app
(its 200 body, its response_url, its modal), with a real worker on a real dev server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from canary.blocks.command import report_form, reportable
from canary.catalog import cached_catalog
from canary.models import RemediationInput
from canary.settings import get_settings
from starter.cli import app as cli_app
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from starter.windows import list_windows
from tests.helpers import eventually
from tests.stack import SIGNING_SECRET, LiveStack, live_stack
from workflows import remediation_id

pytestmark = pytest.mark.asyncio
ADMIN, REVOPS, STRANGER = "U0ERIN", "U0DAN", "U0CAROL"
#: A subject id of each kind a reportable SOP is about, none of them known to the sandbox.
SUBJECTS = {
    "invoice": "in_HandReported1",
    "opportunity": "006HANDREPORT01",
    "app_account": "acct_hand_reported_1",
}


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(
        dev_env.client, admins=[ADMIN], slack_team_id="T0ACMEGTM", slack_app_id="A0CANARY"
    ) as live:
        yield live


async def answers(stack: LiveStack, user: str, since: int = 0) -> list[str]:
    """What ``user`` has been shown only to them, oldest first, after the first ``since``."""
    shown = await stack.sandbox_get("/_sandbox/slack/ephemeral", user=user)
    return [e["text"] for e in shown][since:]


async def next_answer(stack: LiveStack, user: str, since: int) -> str:
    found = await eventually(lambda: answers(stack, user, since), lambda got: bool(got))
    return found[0]


async def test_help_is_the_commands_answer_signed_like_slack(stack: LiveStack) -> None:
    before = len(await answers(stack, "U0ALICE"))
    typed = await stack.command("U0ALICE", "help")
    assert typed["status"] == 200
    assert json.loads(typed["body"])["response_type"] == "ephemeral"
    shown = await answers(stack, "U0ALICE", before)
    assert "/canary report" in shown[0] and "/canary mute" in shown[0]
    [sent] = (await stack.requests(service="commands"))[-1:]
    assert sent["path"].endswith("/slack/commands")
    assert sent["headers"]["x-slack-signature"].startswith("v0=")
    fields = sent["body"]
    assert fields["command"] == "/canary" and fields["text"] == "help"
    assert fields["user_id"] == "U0ALICE" and fields["channel_name"] == "gtm-alerts"
    assert {"team_id", "api_app_id", "response_url", "trigger_id", "token"} <= set(fields)


async def test_an_unknown_subcommand_answers_help(stack: LiveStack) -> None:
    before = len(await answers(stack, "U0BOB"))
    assert (await stack.command("U0BOB", "frobnicate now"))["status"] == 200
    assert "/canary status" in (await answers(stack, "U0BOB", before))[0]


async def test_status_by_invoice_and_by_workflow_id(stack: LiveStack) -> None:
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[0])
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.slack is not None,
        timeout=30,
    )
    for asked in (invoice, workflow_id):
        before = len(await answers(stack, "U0FRANK"))
        assert (await stack.command("U0FRANK", f"status {asked}"))["status"] == 200
        answer = await next_answer(stack, "U0FRANK", before)
        assert f"`{workflow_id}`" in answer and "state *" in answer
        assert "Temporal UI>" in answer and "|the alert>" in answer
        assert "Owner:" in answer and "@" not in answer.replace("<@", "")  # no e-mail


@pytest.mark.parametrize("shaped_to_inject", ["in_x' OR 1=1", "<!channel>", "../../v1/charges"])
async def test_status_of_an_id_shaped_to_inject_is_refused_safely(
    stack: LiveStack, shaped_to_inject: str
) -> None:
    before = len(await answers(stack, "U0ALICE"))
    assert (await stack.command("U0ALICE", f"status {shaped_to_inject}"))["status"] == 200
    answer = await next_answer(stack, "U0ALICE", before)
    assert answer.startswith(":no_entry_sign: Give a workflow id")
    assert "<!" not in answer and shaped_to_inject not in answer
    # Nothing was posted in the channel, and nothing asked Stripe for it.
    messages = await stack.messages("#gtm-alerts")
    assert not any("channel" in (m.get("text") or "") and "<!" in m["text"] for m in messages)
    # Other remediations on this stack call Stripe too (a random invoice id may even begin
    # with "in_x"), so look for the shaped id itself, decoded, and for the route it aims at.
    stripe_paths = [unquote(call["path"]) for call in await stack.requests(service="stripe")]
    assert not [path for path in stripe_paths if shaped_to_inject in path]
    assert not [path for path in stripe_paths if path.startswith("/v1/charges")]


async def choose_type(
    stack: LiveStack, user: str, error_type: str, entered: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pick the report form's error type as Slack's client sends it (``block_actions`` from
    the modal, after what was ``entered``): the form before and as the app updated it."""
    before = await eventually(lambda: stack.form(user), lambda found: found is not None)
    assert before is not None
    acted = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/views/action",
        json={
            "user": user,
            "view_id": before["id"],
            "block_id": "error_type",
            "action_id": "value",
            "selected_option": error_type,
            "values": entered or {},
        },
    )
    assert acted.json()["status"] == 200, acted.text
    after = await eventually(
        lambda: stack.form(user),
        lambda found: found is not None and found["hash"] != before["hash"],
    )
    assert after is not None
    return before, after


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A modal's input blocks by block id."""
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def shown_text(view: dict[str, Any]) -> str:
    return " ".join(
        e.get("text", "") for b in view["blocks"] if b["type"] == "context" for e in b["elements"]
    )


async def test_choosing_each_reportable_type_shows_its_fields(stack: LiveStack) -> None:
    catalog = cached_catalog(stack.settings.catalog_path)
    offered = reportable(catalog)
    assert (await stack.command("U0CAROL", "report"))["status"] == 200
    first = await stack.form("U0CAROL")
    assert first is not None
    picker = inputs(first)["error_type"]
    assert picker["dispatch_action"] is True
    assert [o["value"] for o in picker["element"]["options"]] == [s.type for s in offered]
    for sop in offered:
        before, after = await choose_type(stack, "U0CAROL", sop.type)
        # The app updated the view it was sent, naming the hash it was sent with.
        [update] = (await stack.requests(service="slack", path="/api/views.update"))[-1:]
        assert (
            update["body"]["view_id"] == before["id"] and update["body"]["hash"] == before["hash"]
        )
        assert after["id"] == before["id"]
        fields = inputs(after)
        assert fields["error_type"]["element"]["initial_option"]["value"] == sop.type
        form = report_form(sop)
        subject = fields["subject_id"]
        assert subject["label"]["text"] == form.subject_label
        assert subject["element"]["placeholder"]["text"] == form.subject_placeholder
        assert ("account" in fields) == (form.account != "no")
        if "account" in fields:
            assert fields["account"]["optional"] == (form.account == "optional")
        assert f"Canary looks up {form.looks_up[0]}" in shown_text(after)
    # What each SOP of the catalog holds, as a person reads it.
    by_type = {s.type: report_form(s) for s in offered}
    assert by_type["payment_failed"].subject_placeholder.startswith("in_…")
    assert by_type["payment_failed"].account == "optional"
    assert by_type["stage_mismatch"].subject_placeholder == "006…"
    assert by_type["stage_mismatch"].account == "no"
    assert by_type["account_unlinked"].subject_label == "The product account id"
    assert by_type["account_unlinked"].account == "required"


async def test_report_starts_a_remediation_of_each_reportable_type(stack: LiveStack) -> None:
    catalog = cached_catalog(stack.settings.catalog_path)
    offered = reportable(catalog)
    assert {"payment_failed", "stage_mismatch", "account_unlinked"} <= {s.type for s in offered}
    assert "unknown" not in {s.type for s in offered}
    for sop in offered:
        kind = next(k for k in sop.subject_kinds if k in SUBJECTS)
        typed = await stack.command("U0BOB", "report")
        assert typed["status"] == 200
        form = await stack.form("U0BOB")
        assert form is not None and form["callback_id"] == "canary:report"
        _, chosen = await choose_type(stack, "U0BOB", sop.type)
        asks_account = "account" in inputs(chosen)
        submitted = await stack.submit(
            "U0BOB",
            {
                "subject_id": SUBJECTS[kind],
                "what_happened": f"Spotted by hand: {sop.title}",
                **({"account": "hooli.com"} if asks_account else {}),
            },
        )
        assert submitted["closed"], submitted
        workflow_id = remediation_id(sop.type, kind, SUBJECTS[kind])
        status = await eventually(
            lambda wid=workflow_id: get_status(stack.client, wid), lambda s: s is not None
        )
        assert status is not None and status.error_type == sop.type
        reported = await started_with(stack.client, workflow_id)
        assert reported["source"] == "slack" and reported["reported_by"] == "U0BOB"
        assert reported["type"] == sop.type and reported["subject"]["id"] == SUBJECTS[kind]
        assert reported["account"].get("domain") == ("hooli.com" if asks_account else None)


async def test_a_submission_after_switching_types_is_read_as_the_new_type(
    stack: LiveStack,
) -> None:
    assert (await stack.command("U0FRANK", "report"))["status"] == 200
    _, invoice_form = await choose_type(stack, "U0FRANK", "payment_failed")
    assert "account" in inputs(invoice_form)
    # Switched after typing an invoice and an account: the id stays (the same field), the
    # account field goes with the SOP that asked it.
    _, opportunity_form = await choose_type(
        stack,
        "U0FRANK",
        "stage_mismatch",
        {"subject_id": "in_HandReported2", "account": "hooli.com"},
    )
    assert "account" not in inputs(opportunity_form)
    kept = opportunity_form["state"]["values"]["subject_id"]["value"]["value"]
    assert kept == "in_HandReported2"
    refused = await stack.submit("U0FRANK", {"what_happened": "Paid but not won"})
    assert not refused["closed"]
    assert "Salesforce Opportunity id" in refused["errors"]["subject_id"]
    submitted = await stack.submit(
        "U0FRANK", {"subject_id": "006HANDREPORT02", "what_happened": "Paid but not won"}
    )
    assert submitted["closed"], submitted
    workflow_id = remediation_id("stage_mismatch", "opportunity", "006HANDREPORT02")
    await eventually(lambda: get_status(stack.client, workflow_id), lambda s: s is not None)
    reported = await started_with(stack.client, workflow_id)
    assert reported["type"] == "stage_mismatch" and not any(reported["account"].values())


@pytest.mark.parametrize("forged_type", ["unknown", "low_adoption", "made_up"])
async def test_a_forged_submission_of_a_type_not_offered_is_refused_in_the_form(
    stack: LiveStack, forged_type: str
) -> None:
    """Signed with the app's secret (so past Slack's checks) and shaped as the form, with its
    select offering the type: the app reads the catalog, not the view it is sent."""
    option = {"text": {"type": "plain_text", "text": forged_type}, "value": forged_type}
    view = {
        "id": "V0FORGED01",
        "type": "modal",
        "callback_id": "canary:report",
        "hash": "1700000000.forged",
        "private_metadata": json.dumps({"c": "C0GTMALERTS", "t": forged_type}),
        "blocks": [
            {
                "type": "input",
                "block_id": "error_type",
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": "What went wrong"},
                "element": {"type": "static_select", "action_id": "value", "options": [option]},
            }
        ],
        "state": {
            "values": {
                "error_type": {"value": {"type": "static_select", "selected_option": option}},
                "subject_id": {"value": {"type": "plain_text_input", "value": "006FORGEDREPORT"}},
                "what_happened": {"value": {"type": "plain_text_input", "value": "forged"}},
            }
        },
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0ACMEGTM", "domain": "acme"},
        "user": {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0ACMEGTM"},
        "api_app_id": "A0CANARY",
        "token": "x",
        "trigger_id": "1.T0ACMEGTM.forged",
        "view": view,
        "response_urls": [],
    }
    body, headers = signed({"payload": json.dumps(payload)})
    answered = await stack.http.post(
        f"{stack.gateway_url}/slack/actions", content=body, headers=headers
    )
    assert answered.status_code == 200
    assert answered.json() == {
        "response_action": "errors",
        "errors": {"error_type": "Pick one of the error types."},
    }
    forged = remediation_id(forged_type, "opportunity", "006FORGEDREPORT")
    assert await get_status(stack.client, forged) is None


async def started_with(client: Client, workflow_id: str) -> dict[str, Any]:
    """The detection a remediation was started with, as its history holds it and the worker
    reads it (the payload leaves fields at their defaults out)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    given = RemediationInput.model_validate_json(started.input.payloads[0].data)
    return given.detection.model_dump(mode="json")


async def test_report_refuses_a_subject_id_not_of_its_shape_in_the_form(stack: LiveStack) -> None:
    assert (await stack.command("U0BOB", "report"))["status"] == 200
    submitted = await stack.submit(
        "U0BOB",
        {
            "error_type": "payment_failed",
            "subject_id": "https://attacker.example/in_1",
            "what_happened": "A URL where an id belongs",
        },
    )
    assert not submitted["closed"]
    assert "Stripe invoice id" in submitted["errors"]["subject_id"]
    # Close it, as the person would.
    form = await stack.form("U0BOB")
    assert form is not None
    await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/views/page",
        data={"user": "U0BOB", "view_id": form["id"], "close": "1"},
    )


async def test_mute_is_refused_for_a_stranger_and_opens_a_window_for_admins_and_revops(
    stack: LiveStack,
) -> None:
    before = len(await answers(stack, STRANGER))
    await stack.command(STRANGER, "mute payment_failed 7d stranger wants quiet")
    refused = await next_answer(stack, STRANGER, before)
    assert refused.startswith(":no_entry_sign: Only RevOps")

    for who, what, reason in (
        (ADMIN, "Hooli", "Hooli billing migration"),
        (REVOPS, "payment_failed", "Stripe dunning rebuild"),
    ):
        before = len(await answers(stack, who))
        await stack.command(who, f"mute {what} 7d {reason}")
        answer = await next_answer(stack, who, before)
        assert answer.startswith(":zzz: Muted"), answer
        assert f"opened by <@{who}>" in answer
    windows = await eventually(
        lambda: list_windows(stack.client),
        lambda found: (
            {"Hooli billing migration", "Stripe dunning rebuild"} <= {w.reason for w in found}
        ),
    )
    by_reason = {w.reason: w for w in windows}
    assert by_reason["Hooli billing migration"].account == "Hooli"
    assert by_reason["Hooli billing migration"].opened_by == ADMIN
    assert by_reason["Stripe dunning rebuild"].error_type == "payment_failed"
    assert "stranger wants quiet" not in by_reason
    # The opener's name, as Slack's users.info gives it, for readers outside Slack.
    assert by_reason["Hooli billing migration"].opened_by_name == "Erin Walsh"
    assert by_reason["Stripe dunning rebuild"].opened_by_name == "Dan Reyes"
    looked_up = await stack.requests(service="slack", path_prefix="/api/users.info")
    assert {r["body"].get("user") for r in looked_up} >= {ADMIN, REVOPS}
    listed = await asyncio.to_thread(cli_windows_list, stack)
    hooli = next(line for line in listed.splitlines() if "Hooli billing migration" in line)
    assert hooli.endswith("(by Erin Walsh)") and ADMIN not in listed


def cli_windows_list(stack: LiveStack) -> str:
    """``canary windows list`` as a person runs it, against the stack's Temporal."""
    address = stack.client.service_client.config.target_host
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEMPORAL_ADDRESS", address)
        patch.setenv("TEMPORAL_NAMESPACE", stack.client.namespace)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli_app, ["windows", "list"])
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return str(result.output)


async def test_mute_says_what_is_wrong_with_the_duration(stack: LiveStack) -> None:
    before = len(await answers(stack, ADMIN))
    await stack.command(ADMIN, "mute Hooli forever because")
    assert "is not a duration" in await next_answer(stack, ADMIN, before)


def signed(fields: dict[str, str], secret: str = SIGNING_SECRET) -> tuple[bytes, dict[str, str]]:
    body = urlencode(fields).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


async def test_a_forged_or_foreign_command_is_refused(stack: LiveStack) -> None:
    fields = {
        "token": "x",
        "team_id": "T0ACMEGTM",
        "team_domain": "acme",
        "channel_id": "C0GTMALERTS",
        "channel_name": "gtm-alerts",
        "user_id": ADMIN,
        "user_name": "erin",
        "command": "/canary",
        "text": "mute payment_failed 7d forged window",
        "api_app_id": "A0CANARY",
        "response_url": f"{stack.sandbox.url}/_sandbox/slack/respond/none",
        "trigger_id": "1.T0ACMEGTM.none",
    }
    url = f"{stack.gateway_url}/slack/commands"
    body, headers = signed(fields, secret="not-the-signing-secret")
    assert (await stack.http.post(url, content=body, headers=headers)).status_code == 401
    del headers["X-Slack-Signature"]
    assert (await stack.http.post(url, content=body, headers=headers)).status_code == 401

    for other in ({"team_id": "T0OTHER"}, {"api_app_id": "A0OTHER"}):
        body, headers = signed({**fields, **other})
        answered = await stack.http.post(url, content=body, headers=headers)
        assert answered.status_code == 200
        assert "Canary refused this command" in answered.text
    assert "forged window" not in {w.reason for w in await list_windows(stack.client)}
