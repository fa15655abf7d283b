"""What an escalation's local activity is given and answers: Slack's messages, made in order,
and the Home change that rides with them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from canary.models.home import HomeChanged
from canary.models.remediation import SlackMessageInput, SlackMessageOutput


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
