"""Where the sandbox's Slack keeps views: each person's modal stack and Home tab, and the
trigger ids clicks hand out (see ``views``). Kept apart so the workspace state can hold it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
#: The sandbox workspace's id (sandbox.slack.seed.TEAM_ID), in trigger ids.
TEAM = "T0ACMEGTM"


class ViewNotFound(LookupError):
    """No open view has that id."""


@dataclass(frozen=True)
class Entry:
    """What a person entered in one input: text, an option's value or a date, and the input's
    ``action_id`` and kind when they did (an update keeps it only where those stay)."""

    action_id: str
    kind: str
    given: Any


@dataclass
class Trigger:
    user: str
    issued: float
    used: bool = False


@dataclass
class Views:
    """Every view of the workspace: each person's modal stack and Home tab."""

    triggers: dict[str, Trigger] = field(default_factory=dict)
    stacks: dict[str, list[Obj]] = field(default_factory=dict)  # user → modals, root first
    homes: dict[str, Obj] = field(default_factory=dict)  # user → Home tab view
    #: What each person has entered in their open modals so far (view id → block id → the
    #: entry): Slack's client holds it until the submission and hands it to the app in
    #: ``view.state`` with each action.
    drafts: dict[str, dict[str, Entry]] = field(default_factory=dict)

    def issue_trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{TEAM}.{secrets.token_hex(6)}"
        self.triggers[trigger] = Trigger(user, time.monotonic())
        return trigger

    def find(self, view_id: str | None, external_id: str | None) -> tuple[str, int, Obj]:
        for user, stack in self.stacks.items():
            for n, view in enumerate(stack):
                if view["id"] == view_id or (
                    external_id and view.get("external_id") == external_id
                ):
                    return user, n, view
        raise ViewNotFound(view_id or external_id)

    def top(self, user: str) -> Obj | None:
        stack = self.stacks.get(user) or []
        return stack[-1] if stack else None
