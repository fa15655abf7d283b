"""``/canary``: report an error by hand, look a remediation up, mute what a migration will set
off, over HTTP or Socket Mode alike (the same bolt app).

- ``/canary report`` opens the report form (``canary.blocks.command``). Choosing the error type
  in it (a ``block_actions`` from the modal) replaces its fields with that SOP's, through
  ``views.update`` with the view's ``hash`` (Slack refuses a stale one: a later choice
  already updated the form). Its submission is read against the chosen SOP in the catalog
  and becomes a detection from that person (source ``slack``, ``reported_by`` their user id),
  checked as ``POST /api/detections`` checks reports, and never trusted more than one: the
  remediation finds the owner and the lookups' facts in the systems of record itself.
  Anyone may report. Canary's shortcuts (``shortcuts``) open the same form; one used on a
  message has the report link it (Slack's permalink, asked by the ids the form kept, checked
  for their shapes). The answer goes to the person alone, where the form came from, or in
  their direct messages with the app when it came from nowhere (a global shortcut) or Slack
  will not post there.
- ``/canary status <id>`` answers the person alone with the state, the owner's mention, the
  outcome and the links; ids are checked for their shape before Temporal sees them.
- ``/canary mute <account | type> <duration> <reason…>`` opens a quiet window, for
  ``CANARY_ADMINS`` and members of ``@revops`` only (read from Slack; unreadable: refused).

Every command and form must come from Canary's own workspace and app, as clicks must.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from temporalio.client import Client

from canary import ids
from canary.adapters import SlackAdapter
from canary.blocks.command import (
    REPORT_CALLBACK,
    REPORT_SUBJECT,
    REPORT_TYPE,
    USAGE,
    current_what_happened,
    offered,
    read_report,
    report_channel,
    report_message,
    report_view,
    status_text,
)
from canary.blocks.forms import FormError
from canary.blocks.mrkdwn import code, escape, mention, safe_url, unescape
from canary.catalog import cached_catalog
from canary.models import QuietWindow, ReportedDetection
from canary.models.sop import Catalog
from canary.models.windows import NAME_LIMIT
from canary.settings import Settings
from starter.gateway.slack.listeners.actions import foreign
from starter.intake import get_status, submit_detection
from starter.windows import WindowError, open_window, parse_duration, window_id_for
from workflows.ids import remediation_id

log = logging.getLogger("canary.gateway")
COMMAND = "/canary"
#: The Slack user group whose members may mute, besides CANARY_ADMINS.
MUTE_GROUP = "revops"
_REPORT = TypeAdapter(ReportedDetection)


class NotAnId(ValueError):
    """What ``/canary status`` was given is not an id it looks up."""


def status_targets(text: str, catalog: Catalog) -> list[str]:
    """The workflow ids ``/canary status`` looks up: a workflow id itself, or an invoice's
    (``in_…``) or an opportunity's (``006…``) remediation under each SOP about that kind of
    subject. Anything else is refused before it reaches Temporal."""
    for kind in ("invoice", "opportunity"):
        system, object_kind = ids.SUBJECT_KINDS[kind]
        shaped = (
            ids.is_stripe_id(text, object_kind)
            if system == "stripe"
            else ids.is_salesforce_id(text, object_kind)
        )
        if shaped:
            return [
                remediation_id(sop.type, kind, text)
                for sop in catalog.sops
                if kind in sop.subject_kinds
            ]
    error_type, _, rest = text.partition(":")
    kind, _, subject_id = rest.partition(":")
    if catalog.get(error_type) is not None and kind and subject_id:
        target = remediation_id(error_type, kind, subject_id)
        if target == text:  # only the characters a workflow id is made of
            return [target]
    raise NotAnId(
        "Give a workflow id (payment_failed:invoice:in_…), an invoice id (in_…) or an "
        "opportunity id (006…)."
    )


def quiet_window(
    words: list[str], user: str, catalog: Catalog, now: datetime, name: str | None = None
) -> QuietWindow:
    """The window ``/canary mute <account | type> <duration> <reason…>`` asks for, opened by
    ``user`` (their Slack id) whose name Slack shows as ``name``."""
    if len(words) < 3:
        raise WindowError("say what, for how long and why: /canary mute Hooli 7d billing migration")
    target, length, reason = words[0], words[1], " ".join(words[2:])
    is_type = catalog.get(target) is not None
    try:
        return QuietWindow(
            id=window_id_for(reason, now),
            account=None if is_type else target,
            error_type=target if is_type else None,
            starts_at=now,
            ends_at=now + parse_duration(length),
            reason=reason,
            opened_by=user,
            opened_by_name=name,
        )
    except ValidationError as exc:
        raise WindowError(
            "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        ) from exc


def shown_name(user: dict[str, Any] | None) -> str | None:
    """A person's name as Slack shows it, from ``users.info``: their full name, else their
    display name, else their handle; cut to what a window keeps."""
    if not user:
        return None
    profile = user.get("profile") or {}
    for name in (
        profile.get("real_name"),
        user.get("real_name"),
        profile.get("display_name"),
        user.get("name"),
    ):
        if isinstance(name, str) and name.strip():
            return name.strip()[:NAME_LIMIT]
    return None


async def answer(client: Any, user: str, channel: str | None, text: str) -> None:
    """Tell ``user`` alone: in ``channel`` (ephemeral) when there is one, else, or when Slack
    will not post there (a channel the app is not in, a conversation between people), in
    their direct messages with the app (chat.postMessage to their user id: its Messages tab).
    A courtesy: a failure is logged."""
    if not ids.is_slack_id(user, "user"):
        return
    if channel is not None:
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)
            return
        except SlackApiError as err:
            log.info("could not answer %s in %s (%s): in their DMs", user, channel, err)
        except Exception as exc:  # noqa: BLE001 - the answer is a courtesy
            log.warning("could not answer %s in %s: %s", user, channel, exc)
            return
    try:
        await client.chat_postMessage(channel=user, text=text)
    except Exception as exc:  # noqa: BLE001 - the answer is a courtesy
        log.warning("could not answer %s in their DMs: %s", user, exc)


async def permalink(client: Any, channel: str, ts: str) -> str | None:
    """Slack's permalink of the message at ``ts`` in ``channel`` (ids of their shapes), or None
    when Slack does not give one (the message is gone, the app cannot see the channel)."""
    try:
        found = (await client.chat_getPermalink(channel=channel, message_ts=ts)).get("permalink")
    except Exception as exc:  # noqa: BLE001 - the report goes on without its link
        log.warning("no permalink for the message %s in %s: %s", ts, channel, exc)
        return None
    return found if isinstance(found, str) and safe_url(found) else None


def register(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    def catalog() -> Catalog:
        return cached_catalog(settings.catalog_path)

    async def may_mute(user: str) -> bool:
        if user in settings.admins:
            return True
        try:
            members = await directory.usergroup_members(MUTE_GROUP)
        except Exception as err:  # noqa: BLE001 - an unreadable group grants nothing
            log.warning("could not read @%s for /canary mute by %s: %s", MUTE_GROUP, user, err)
            return False
        return user in members

    async def status(text: str) -> str:
        try:
            targets = status_targets(text, catalog())
        except NotAnId as exc:
            return f":no_entry_sign: {exc}"
        found = [s for s in [await get_status(temporal(), t) for t in targets] if s is not None]
        if not found:
            return f"No remediation for {code(text)}."
        return "\n\n".join(
            status_text(s, settings.temporal_ui_url, settings.temporal_namespace) for s in found
        )

    async def mute(words: list[str], user: str) -> str:
        if not await may_mute(user):
            return (
                ":no_entry_sign: Only RevOps (@revops) and Canary's admins may mute remediations."
            )
        now = datetime.now(UTC)
        try:
            opener = await directory.user_info(user)
        except Exception as err:  # noqa: BLE001 - the name is for readers; the id is enough
            log.warning("could not look %s up for their quiet window's name: %s", user, err)
            opener = None
        try:
            window = quiet_window(words, user, catalog(), now, shown_name(opener))
            await open_window(temporal(), window, settings)
        except WindowError as exc:
            return f":no_entry_sign: Not muted: {escape(exc)}."
        log.info("quiet window %s opened by %s: %s", window.id, user, window.scope())
        return (
            f":zzz: Muted {escape(window.scope())} until {window.end:%Y-%m-%d %H:%M} UTC "
            f"({code(window.id)}), opened by {mention(user)}: “{escape(window.reason)}”. "
            "Matching remediations are fixed but ping nobody; what is still open then alerts "
            "once."
        )

    async def on_command(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        user = str(body.get("user_id") or "")
        text = unescape(str(body.get("text") or "")).strip()
        why = foreign({"team": {"id": body.get("team_id")}, **body}, settings)
        if why is not None:
            log.warning("/canary by %s refused: %s", user, why)
            await ack(text=f":no_entry_sign: Canary refused this command: {why}.")
            return
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        sub, rest = (words[0].lower(), words[1:]) if words else ("help", [])
        if sub == "report":
            await ack()
            try:
                await client.views_open(
                    trigger_id=body["trigger_id"],
                    view=report_view(catalog(), body.get("channel_id")),
                )
            except SlackApiError as err:
                error = err.response.get("error") if err.response else None
                if error == "exchanged_trigger_id":
                    return  # the same command delivered again: its form is open already
                await respond(
                    text=f":no_entry_sign: Slack did not open the form ({error}); try again.",
                    response_type="ephemeral",
                )
            return
        if sub == "status" and rest:
            asked = text.split(None, 1)[1].strip()  # as typed: an id is one word or refused
            await ack()  # the answer needs Temporal: it goes to the response_url
            await respond(text=await status(asked), response_type="ephemeral")
            return
        if sub == "mute":
            await ack()
            await respond(text=await mute(rest, user), response_type="ephemeral")
            return
        await ack(text=USAGE, response_type="ephemeral")

    async def on_report(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        async def refuse(errors: dict[str, str]) -> None:
            log.warning("/canary report refused: %s", errors)
            await ack(response_action="errors", errors=errors)

        if (why := foreign(body, settings)) is not None:
            await refuse({REPORT_SUBJECT: f"Canary refused this form: {why}."[:300]})
            return
        user = str((body.get("user") or {}).get("id") or "unknown")
        values = (view.get("state") or {}).get("values") or {}
        try:
            fields = read_report(catalog(), values, user, f"report-{view.get('id')}")
            reported = report_message(view)
            if reported is not None and (found := await permalink(client, *reported)):
                fields["links"] = [{"label": "The Slack message reported", "url": found}]
            detection = _REPORT.validate_python(fields)
        except FormError as exc:
            await refuse(exc.errors)
            return
        except ValidationError as exc:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            await refuse({REPORT_SUBJECT: problems[:300]})
            return
        submitted = await submit_detection(temporal(), detection, settings)
        await ack()
        log.info("/canary report by %s: %s", user, submitted.workflow_id)
        await answer(
            client,
            user,
            report_channel(view),
            f":white_check_mark: Reported: {code(submitted.workflow_id)}. Canary looks it up, "
            "fixes what its SOP can and alerts who owns it.",
        )

    async def on_type_chosen(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any
    ) -> None:
        """The report form's type was chosen: its fields become that SOP's."""
        await ack()
        view = body.get("view") or {}
        if view.get("callback_id") != REPORT_CALLBACK:
            return
        user = (body.get("user") or {}).get("id")
        if (why := foreign(body, settings)) is not None:
            log.warning("/canary report's type choice by %s refused: %s", user, why)
            return
        choice = (action.get("selected_option") or {}).get("value")
        chosen = offered(catalog(), choice)
        reported = report_message(view)
        rebuilt = report_view(
            catalog(),
            report_channel(view),
            chosen,
            message_ts=reported[1] if reported else None,
            what_happened=current_what_happened((view.get("state") or {}).get("values") or {}),
        )
        try:
            await client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=rebuilt)
        except SlackApiError as err:
            error = err.response.get("error") if err.response else None
            if error == "hash_conflict":
                log.info("/canary report form of %s changed since %s was chosen", user, choice)
                return  # a later choice (or a retry of this one) already updated the form
            log.warning("could not update %s's /canary report form: %s", user, error)

    app.command(COMMAND)(on_command)
    app.action({"block_id": REPORT_TYPE, "action_id": "value"})(on_type_chosen)
    app.view(REPORT_CALLBACK)(on_report)
