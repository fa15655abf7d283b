"""Slack: post or update a message (with its thread reply), find the people to mention, and
the two step actions that post to a channel.

Every post an activity makes carries a metadata key derived from the remediation and the
step, and a retried attempt looks for that key in the channel (or the thread) before it posts:
an attempt that failed after Slack took its post (a timeout, a lost answer, a later call that
failed) never posts it twice. Slack refusing a post for good (``invalid_blocks``,
``msg_too_long``, ``channel_not_found``, ``not_in_channel``, …) fails the activity at once,
non-retryable, with the error type ``slack.<error>``; Slack down, slow or rate-limiting is
``slack.transient``, retried by the caller's policy no sooner than Slack's ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import call
from activities.services import Services
from activities.stripe import invoice_id
from canary.adapters import SlackAdapter
from canary.blocks import thread_blocks
from canary.blocks.mrkdwn import MAX_MESSAGE_TEXT, clip_mrkdwn, escape
from canary.catalog import build_context, render
from canary.models import (
    AlertInput,
    EscalationInput,
    EscalationOutput,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    SlackMessageInput,
    SlackMessageOutput,
    SlackRef,
    StepInput,
    StepOutput,
)
from canary.models.home import HomeChanged

#: How much earlier than ``look_since`` a search starts: Slack's clock and Temporal's may
#: disagree by this much.
CLOCK_MARGIN = timedelta(minutes=5)


def retried() -> bool:
    """Whether this is a retry of an activity that may already have posted."""
    return activity.in_activity() and activity.info().attempt > 1


def first_scheduled() -> datetime | None:
    """When this activity was first scheduled (its first attempt's, on a retry): nothing it
    posted is older. None outside an activity (and in a test's, which has no such time)."""
    if not activity.in_activity():
        return None
    scheduled = activity.info().scheduled_time
    return scheduled if scheduled.timestamp() > 0 else None


class Posted(NamedTuple):
    channel: str
    ts: str
    #: Found in Slack, posted by an earlier try: not posted again.
    earlier: bool = False


async def post_once(
    slack: SlackAdapter,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None,
    key: str | None,
    *,
    look: bool,
    thread_ts: str | None = None,
    look_since: datetime | None = None,
) -> Posted:
    """Post ``text`` (mrkdwn, cut to Slack's 40,000 characters) marked with ``key``, unless
    ``look`` and a message with that key is already there (among the posts since
    ``look_since``, or since the activity was first scheduled): its channel id and ts."""
    if key and look:
        since = look_since or first_scheduled()
        oldest = (since - CLOCK_MARGIN).timestamp() if since else None
        found = await call(slack.find_by_metadata, channel, key, thread_ts=thread_ts, oldest=oldest)
        if found:
            return Posted(await call(slack.channel_id, channel), found, earlier=True)
    text = clip_mrkdwn(text, MAX_MESSAGE_TEXT)
    return Posted(*await call(slack.post, channel, text, blocks, thread_ts, key))


async def reply_once(
    slack: SlackAdapter, channel_id: str, request: SlackMessageInput, ts: str, *, look: bool
) -> Posted:
    """The request's ``thread_text`` under the message ``ts``, posted once (see post_once)."""
    text = request.thread_text or ""
    return await post_once(
        slack,
        channel_id,
        text,
        thread_blocks(text),
        request.thread_metadata_key,
        look=look,
        thread_ts=ts,
    )


async def send(
    slack: SlackAdapter, request: SlackMessageInput, *, look: bool
) -> SlackMessageOutput:
    """Post (or, with ``ts``, update) the request's message, and its ``thread_text`` under it;
    with ``look``, its posts are looked for in Slack first (see post_once)."""
    if request.ts:
        text = clip_mrkdwn(request.text, MAX_MESSAGE_TEXT)
        await call(slack.update, request.channel, request.ts, text, request.blocks)
        channel_id = await call(slack.channel_id, request.channel)
        if not request.thread_text:
            return SlackMessageOutput(channel=channel_id, ts=request.ts)
        # The change's reply under the message, in the same activity: one round.
        reply = await reply_once(slack, channel_id, request, request.ts, look=look)
        return SlackMessageOutput(
            channel=channel_id, ts=request.ts, thread_ts=reply.ts, found_earlier=reply.earlier
        )
    channel_id, ts, earlier = await post_once(
        slack,
        request.channel,
        request.text,
        request.blocks,
        request.metadata_key,
        look=look,
        thread_ts=request.thread_ts,
        look_since=request.look_since,
    )
    # A retried attempt may have posted before failing on the permalink: fetch it here
    # too, or the escalations lose their link to the alert.
    permalink = None
    if not request.thread_ts and request.permalink:
        permalink = await call(slack.permalink, channel_id, ts)
    reply_ts = None
    if request.thread_text:
        reply_ts = (await reply_once(slack, channel_id, request, ts, look=look)).ts
    return SlackMessageOutput(
        channel=channel_id,
        ts=ts,
        permalink=permalink,
        thread_ts=reply_ts,
        found_earlier=earlier,
    )


class SlackActivities:
    """Slack's messages of a remediation. ``tell_homes`` is the worker's Home refresher, told
    of the Home change an alert or an escalation carries (None: this worker publishes no
    Homes)."""

    def __init__(
        self, services: Services, tell_homes: Callable[[HomeChanged], None] | None = None
    ) -> None:
        self.services = services
        self.tell_homes = tell_homes

    @activity.defn(name="canary.post_slack")
    async def post_slack(self, request: SlackMessageInput) -> SlackMessageOutput:
        """Post (or, with ``ts``, update) a message, and with ``thread_text`` a reply under it.
        Retries never post twice: a post carries a metadata key and, on a retried attempt (or
        when asked to look first), the channel is searched for it first."""
        return await send(self.services.slack, request, look=retried() or request.look_first)

    @activity.defn(name="canary.post_alert")
    async def post_alert(self, request: AlertInput) -> SlackMessageOutput:
        """The alert's post or update (as ``post_slack``), and the Home change it makes.

        An update's change is handed to the refresher before Slack is called, as an
        escalation's: the Homes follow whatever Slack answers. A first post's change is
        handed over once Slack has the alert, with the posted message's ref in its entry (a
        Home links the alert); a post Slack refuses tells nobody, and the remediation tells
        the Homes itself. A change told twice (a retry) is published once."""
        message, home = request.message, request.home
        if home is not None and message.ts is not None:
            self._tell(home)
        posted = await send(self.services.slack, message, look=retried() or message.look_first)
        if home is not None and message.ts is None:
            alert = SlackRef(channel=posted.channel, ts=posted.ts, permalink=posted.permalink)
            self._tell(home.with_alert(alert))
        return posted

    def _tell(self, change: HomeChanged) -> None:
        if self.tell_homes is not None:
            self.tell_homes(change)

    @activity.defn(name="canary.post_escalation")
    async def post_escalation(self, request: EscalationInput) -> EscalationOutput:
        """An escalation in Slack, in order: the alert's update with the escalation's line
        under it, then the escalation channel's post (when the rung has one).

        The line goes first so that a retry knows where to look: the line is looked for in
        the alert's thread (short) every time, since a workflow task tried again runs this as
        a first attempt; the channel's post is looked for (among the channel's posts since
        ``look_since``) only when an earlier try got as far as the line. Slack refusing one
        of the two for good is reported in the output, and the other is still made; Slack
        down fails the whole activity, and the retry finds what the failed try posted.

        The Home change is handed over first: the refresher publishes the Homes a moment later
        whatever Slack answers here, and a change told twice (a retry) is published once."""
        if request.home is not None:
            self._tell(request.home)
        slack = self.services.slack
        update, update_error = None, None
        try:
            update = await send(slack, request.update, look=True)
        except ApplicationError as err:
            if not err.non_retryable:
                raise
            update_error = err.message
        if request.post is None:
            return EscalationOutput(update=update, update_error=update_error)
        earlier = update is None or update.found_earlier or not request.update.thread_text
        try:
            post = await send(slack, request.post, look=retried() or earlier)
        except ApplicationError as err:
            if not err.non_retryable:
                raise
            return EscalationOutput(
                update=update, update_error=update_error, post_error=err.message
            )
        return EscalationOutput(update=update, update_error=update_error, post=post)

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

    # -- the ``slack.*`` step actions -----------------------------------------------------

    async def notify_channel(self, request: StepInput) -> StepOutput:
        settings = self.services.settings
        channel = str(request.step.params.get("channel") or settings.escalation_channel)
        context = build_context(request.detection, request.facts)
        # The step's text is catalog markup; the facts it shows are escaped.
        text = render(
            str(request.step.params.get("text") or request.step.title), context, escape=escape
        )
        await post_once(
            self.services.slack,
            channel,
            text,
            None,
            f"{request.attempt_key}/notify",
            look=retried(),
        )
        return StepOutput(ok=True, text=f"Posted to {channel}.")

    async def notify_finance(self, request: StepInput) -> StepOutput:
        channel = str(request.step.params.get("channel", "#finance"))
        text = (
            f":warning: Suspected fraudulent card on {escape(request.detection.account.label())} "
            f"(invoice {escape(invoice_id(request.detection, request.facts) or 'n/a')}). "
            "Canary will not retry it; please review the customer."
        )
        await post_once(
            self.services.slack,
            channel,
            text,
            None,
            f"{request.attempt_key}/finance",
            look=retried(),
        )
        return StepOutput(ok=True, text=f"Finance told in {channel}.")
