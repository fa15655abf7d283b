"""What the sandbox holds: its configuration, each service's state and the recording of every
call, shared by all of its routes."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field

from sandbox.recorder import Recorder
from sandbox.salesforce import SalesforceState
from sandbox.slack.ratelimits import SlackRateLimits
from sandbox.slack.state import SlackState
from sandbox.smtp import SmtpSink
from sandbox.stripe.state import StripeState


class SandboxConfig(BaseModel):
    """How the sandbox presents itself and where chat-page clicks go."""

    public_url: str = Field("", description="Base URL others reach the sandbox at.")
    slack_interactivity_url: str | None = Field(
        None, description="The app's interactivity URL (the gateway's /slack/actions)."
    )
    slack_command_url: str | None = Field(
        None, description="The app's slash command URL (the gateway's /slack/commands)."
    )
    slack_signing_secret: str | None = Field(None, description="Signs clicks like Slack does.")
    slack_rate_limits: SlackRateLimits = Field(
        default_factory=SlackRateLimits,
        description="Slack's per-method rate limits (off unless enabled).",
    )
    seed: bool = Field(True, description="Seed demo customers, people, channels and CRM data.")
    smtp_port: int | None = Field(
        None, description="Also receive e-mail on this SMTP port (0: any free port; None: off)."
    )


class Sandbox:
    """All of the sandbox's state, shared by its routes."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.recorder = Recorder()
        self.stripe = StripeState(config.public_url, seed=config.seed)
        self.slack = SlackState(config.public_url)
        self.salesforce = RecordedSalesforce(self.recorder, seed=config.seed)
        # The e-mail Canary sends for high-priority cases lands here, listed at /_sandbox/mail;
        # the app's lifespan starts and stops it.
        self.mail = SmtpSink(port=config.smtp_port) if config.smtp_port is not None else None
        self.version = 0
        self._version_lock = threading.Lock()

    def set_public_url(self, url: str) -> None:
        self.config.public_url = url.rstrip("/")
        self.stripe.public_url = self.config.public_url
        self.slack.public_url = self.config.public_url

    def bump(self) -> None:
        """Tell the chat page that Slack's messages changed (it polls the version)."""
        with self._version_lock:
            self.version += 1


class RecordedSalesforce(SalesforceState):
    """Salesforce's own recording, mirrored into the sandbox-wide one."""

    def __init__(self, recorder: Recorder, seed: bool = True) -> None:
        self._recorder = recorder
        super().__init__(seed=seed)

    def record_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        recorded = super().record_request(entry)
        self._recorder.record(
            "salesforce",
            entry["method"],
            entry["path"],
            query=entry.get("query"),
            headers=entry.get("headers"),
            body=entry.get("body"),
            status=entry["status"],
            response=entry.get("response"),
        )
        return recorded
