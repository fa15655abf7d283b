"""The bolt app's listeners, registered per interaction kind: Canary's messages carry buttons
and selects, which Slack sends as block actions; some buttons open a form first, whose
submission Slack sends as a view submission; ``/canary`` is a slash command, and Canary's
shortcuts (global and on a message) open its report form.

The listeners that check who a person is (a click, a form, ``/canary mute``, a Home opened)
read Slack's directory through one adapter, ``directory``, and share its answers for a
minute."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from temporalio.client import Client

from canary.adapters import SlackAdapter
from canary.settings import Settings
from starter.gateway.slack.listeners import actions, commands, forms, home, shortcuts


def register_listeners(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    actions.register(app, temporal, settings, directory)
    forms.register(app, temporal, settings, directory)
    home.register(app, temporal, settings, directory)
    commands.register(app, temporal, settings, directory)
    shortcuts.register(app, temporal, settings)
