"""Slack: post or update a message (with its thread reply), find the people to mention, and
the two step actions that post to a channel."""

from __future__ import annotations

from temporalio import activity

from activities.calls import call
from activities.services import Services
from activities.stripe import invoice_id
from canary.blocks import thread_blocks
from canary.blocks.mrkdwn import escape
from canary.catalog import build_context, render
from canary.models import (
    ResolveGroupsInput,
    ResolveGroupsOutput,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    SlackMessageInput,
    SlackMessageOutput,
    StepInput,
    StepOutput,
)


class SlackActivities:
    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn(name="canary.post_slack")
    async def post_slack(self, request: SlackMessageInput) -> SlackMessageOutput:
        """Post (or, with ``ts``, update) a message. Retries never post twice: a post carries
        a metadata key and, on a retried attempt (or when asked to look first), the channel
        is searched for it first."""
        slack = self.services.slack
        if request.ts:
            await call(slack.update, request.channel, request.ts, request.text, request.blocks)
            channel_id = await call(slack.channel_id, request.channel)
            return SlackMessageOutput(channel=channel_id, ts=request.ts)
        retried = activity.info().attempt > 1 or request.look_first
        existing = None
        if request.metadata_key and retried:
            existing = await call(
                slack.find_by_metadata,
                request.channel,
                request.metadata_key,
                thread_ts=request.thread_ts,
            )
        if existing:
            channel_id, ts = await call(slack.channel_id, request.channel), existing
        else:
            channel_id, ts = await call(
                slack.post,
                request.channel,
                request.text,
                request.blocks,
                request.thread_ts,
                request.metadata_key,
            )
        # A retried attempt may have posted before failing on the permalink: fetch it here
        # too, or the escalations lose their link to the alert.
        permalink = None
        if not request.thread_ts and request.permalink:
            permalink = await call(slack.permalink, channel_id, ts)
        reply = None
        if request.thread_text:
            if request.thread_metadata_key and retried:
                reply = await call(
                    slack.find_by_metadata, channel_id, request.thread_metadata_key, thread_ts=ts
                )
            if reply is None:
                _, reply = await call(
                    slack.post,
                    channel_id,
                    request.thread_text,
                    thread_blocks(request.thread_text),
                    ts,
                    request.thread_metadata_key,
                )
        return SlackMessageOutput(channel=channel_id, ts=ts, permalink=permalink, thread_ts=reply)

    @activity.defn(name="canary.resolve_owner")
    async def resolve_owner(self, request: ResolveOwnerInput) -> ResolveOwnerOutput:
        for email in request.emails:
            user = await call(self.services.slack.user_by_email, email)
            if user:
                return ResolveOwnerOutput(
                    slack_user=user.get("id"),
                    email=email,
                    name=user.get("real_name") or user.get("name"),
                )
        return ResolveOwnerOutput()

    @activity.defn(name="canary.resolve_groups")
    async def resolve_groups(self, request: ResolveGroupsInput) -> ResolveGroupsOutput:
        members: dict[str, list[str]] = {}
        for group in request.groups:
            members[group] = await call(self.services.slack.usergroup_members, group)
        return ResolveGroupsOutput(members=members)

    # -- the ``slack.*`` step actions -----------------------------------------------------

    async def notify_channel(self, request: StepInput) -> StepOutput:
        settings = self.services.settings
        channel = str(request.step.params.get("channel") or settings.escalation_channel)
        context = build_context(request.detection, request.facts)
        # The step's text is catalog markup; the facts it shows are escaped.
        text = render(
            str(request.step.params.get("text") or request.step.title), context, escape=escape
        )
        await call(
            self.services.slack.post, channel, text, None, None, f"{request.attempt_key}/notify"
        )
        return StepOutput(ok=True, text=f"Posted to {channel}.")

    async def notify_finance(self, request: StepInput) -> StepOutput:
        channel = str(request.step.params.get("channel", "#finance"))
        text = (
            f":warning: Suspected fraudulent card on {escape(request.detection.account.label())} "
            f"(invoice {escape(invoice_id(request.detection, request.facts) or 'n/a')}). "
            "Canary will not retry it; please review the customer."
        )
        await call(
            self.services.slack.post, channel, text, None, None, f"{request.attempt_key}/finance"
        )
        return StepOutput(ok=True, text=f"Finance told in {channel}.")
