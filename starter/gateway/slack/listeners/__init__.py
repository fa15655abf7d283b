"""The bolt app's listeners, registered per interaction kind: Canary's messages carry buttons
and selects, which Slack sends as block actions; some buttons open a form first, whose
submission Slack sends as a view submission; ``/canary`` is a slash command, and Canary's
shortcuts (global and on a message) open its report form."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from temporalio.client import Client

from canary.settings import Settings
from starter.gateway.slack.listeners import actions, commands, forms, home, shortcuts


def register_listeners(app: AsyncApp, temporal: Callable[[], Client], settings: Settings) -> None:
    actions.register(app, temporal, settings)
    forms.register(app, temporal, settings)
    home.register(app, temporal, settings)
    commands.register(app, temporal, settings)
    shortcuts.register(app, temporal, settings)
