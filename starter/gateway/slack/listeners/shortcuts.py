"""Canary's shortcuts, over HTTP or Socket Mode alike (the same bolt app): each opens the
report form of ``/canary report``, whose type choice and submission ``commands`` handles.

- ``canary_report`` (global, from the message box or search): the form with no channel, so
  its answer goes to the person's direct messages with the app.
- ``canary_report_message`` (on a message's "…" menu): the form with "What happened" filled
  with the message's text as typed (plain text, cut to the field's length) and the message's
  channel and ts kept in the form, checked for their shapes here and again when the form
  comes back: the answer goes to that channel, and the report links the message. The text is
  a report like any other, read and checked the same way on submission.

A shortcut must come from Canary's own workspace (and app), as every Slack request must.
Slack's shortcut payloads name no app (no ``api_app_id``): the request's signature (the app's
signing secret) or its socket (the app's token) says it is Canary's; one that names another
app is refused. A refused shortcut is logged and opens nothing. A shortcut Canary does not
know (a manifest ahead of the code) is acknowledged, logged and does nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from temporalio.client import Client

from canary import ids
from canary.blocks.command import prefilled, report_view
from canary.catalog import cached_catalog
from canary.settings import Settings
from starter.gateway.slack.listeners.actions import foreign
from starter.gateway.slack.listeners.commands import answer

log = logging.getLogger("canary.gateway")
#: The shortcuts' callback ids, as deploy/slack-app-manifest.yaml declares them.
GLOBAL_SHORTCUT = "canary_report"
MESSAGE_SHORTCUT = "canary_report_message"
_ANY = re.compile(r".*", re.S)


def foreign_shortcut(body: dict[str, Any], settings: Settings) -> str | None:
    """Why a shortcut is refused (``foreign``), reading one that names no app as Canary's."""
    if not body.get("api_app_id"):
        body = {**body, "api_app_id": settings.slack_app_id}
    return foreign(body, settings)


def shortcut_message(body: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """The channel and ts of the message a message shortcut was used on, each None unless of
    its shape, and the message's text (Slack's)."""
    channel = (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    ts = message.get("ts") or body.get("message_ts")
    text = message.get("text")
    return (
        channel if ids.is_slack_id(channel, "channel") else None,
        ts if ids.is_slack_ts(ts) else None,
        text if isinstance(text, str) else "",
    )


def register(app: AsyncApp, temporal: Callable[[], Client], settings: Settings) -> None:
    del temporal  # the form's submission (``commands``) starts the remediation

    async def open_form(
        client: Any, body: dict[str, Any], view: dict[str, Any], channel: str | None
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        try:
            await client.views_open(trigger_id=body.get("trigger_id"), view=view)
        except SlackApiError as err:
            error = err.response.get("error") if err.response else None
            if error == "exchanged_trigger_id":
                return  # the same shortcut delivered again: its form is open already
            log.warning("could not open the report form for %s: %s", user, error)
            await answer(
                client,
                user,
                channel,
                f":no_entry_sign: Slack did not open the form ({error}); try again.",
            )

    async def on_global(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        if (why := foreign_shortcut(body, settings)) is not None:
            log.warning("shortcut %s refused: %s", GLOBAL_SHORTCUT, why)
            return
        catalog = cached_catalog(settings.catalog_path)
        await open_form(client, body, report_view(catalog, None), None)

    async def on_message(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        if (why := foreign_shortcut(body, settings)) is not None:
            log.warning("shortcut %s refused: %s", MESSAGE_SHORTCUT, why)
            return
        channel, ts, text = shortcut_message(body)
        if channel is None or ts is None:
            channel = ts = None  # answered in the person's DMs, linking no message
        catalog = cached_catalog(settings.catalog_path)
        view = report_view(catalog, channel, message_ts=ts, what_happened=prefilled(text))
        await open_form(client, body, view, channel)

    async def on_unknown(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        log.warning(
            "shortcut %r (%s) is not one of Canary's: nothing done",
            str(body.get("callback_id"))[:100],
            body.get("type"),
        )

    app.global_shortcut(GLOBAL_SHORTCUT)(on_global)
    app.message_shortcut(MESSAGE_SHORTCUT)(on_message)
    app.shortcut(_ANY)(on_unknown)  # registered last: only what the two above do not take
