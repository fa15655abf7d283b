"""What the alert's and an escalation's activities are given and answer: Slack's messages,
made in order, and the Home change that rides with them (one local activity where Slack's and
the Homes' would be two)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from canary.models.home import HomeChanged
from canary.models.remediation import SlackMessageInput, SlackMessageOutput


class AlertInput(BaseModel):
    """The alert's post or update, and the change of the remediation's Home entry it makes.
    An update's change is told to the worker's Home refresher before Slack is called; a first
    post's once it is posted, with the posted message's ref filled in
    (:meth:`HomeChanged.with_alert`)."""

    message: SlackMessageInput
    home: HomeChanged | None = Field(
        None, description="The Home entry's change (None when no Home shows a difference)."
    )


class EscalationInput(BaseModel):
    """An escalation's Slack messages, made in order by one activity, and the change of the
    remediation's Home entry the escalation made (the worker's Home refresher is told of it
    first, so a Slack refusing the messages does not hold the Homes back)."""

    update: SlackMessageInput = Field(description="The alert's update, the line under it.")
    post: SlackMessageInput | None = Field(
        None, description="The escalation channel's post (None when the rung has none)."
    )
    home: HomeChanged | None = Field(
        None, description="The Home entry's change (None when no Home shows a difference)."
    )


class EscalationOutput(BaseModel):
    update: SlackMessageOutput | None = None
    update_error: str | None = Field(None, description="Why Slack refused the update for good.")
    post: SlackMessageOutput | None = None
    post_error: str | None = Field(None, description="Why Slack refused the post for good.")
