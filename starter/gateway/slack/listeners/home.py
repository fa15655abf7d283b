"""The Home tab: when a person opens Canary's app Home (Slack's ``app_home_opened`` event, over
the Events API or Socket Mode), Canary publishes their Home as it is now
(:func:`activities.home.publish_home`: their remediations from Temporal, ``views.publish``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from temporalio.client import Client

from activities.home import publish_home
from canary.adapters import SlackAdapter
from canary.settings import Settings
from starter.gateway.slack.listeners.actions import foreign

log = logging.getLogger("canary.gateway")


def register(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    more_url = settings.gateway_url.rstrip("/") + "/report"

    async def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        # bolt acknowledges events itself; this runs after the ack.
        if event.get("tab") != "home":
            return  # the Messages tab: nothing to publish
        if (why := foreign(body, settings)) is not None:
            log.warning("app_home_opened refused: %s", why)
            return
        user = str(event.get("user") or "")
        try:
            await publish_home(temporal(), directory, [user], more_url)
        except Exception:
            log.exception("could not publish %s's Home tab", user)
            return
        log.info("published %s's Home tab", user)

    app.event("app_home_opened")(on_home_opened)
