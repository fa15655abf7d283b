"""Telling people: the alert (posted once, then updated in place), its thread, the owner's
daily digest for what is not urgent, the e-mail for what is, and the escalation post.

Every message is built by ``canary.blocks`` from the remediation's status; the activities
only post it. Slack being down never loses a remediation: the failure is on the timeline and
the next change tries again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import DigestActivities, EmailActivities, SlackActivities
    from canary.blocks import (
        alert_email,
        build_blocks,
        escalation_blocks,
        fallback_text,
        owner_mention,
        thread_blocks,
        thread_text,
    )
    from canary.models import (
        AlertInput,
        EscalationInput,
        SlackMessageInput,
        SlackMessageOutput,
        SlackRef,
    )
    from canary.models.detectors import (
        DigestAddInput,
        DigestInput,
        DigestItem,
        EmailInput,
    )
    from canary.models.remediation import one_address

from workflows.policies import (
    SLACK_RETRY,
    SLACK_TIMEOUT,
    alert_retry_delay,
    cause,
)
from workflows.remediation.context import Remediation
from workflows.remediation.windows import check_quiet_windows


class Alerter:
    def __init__(self, remediation: Remediation) -> None:
        self.r = remediation

    def mention(self) -> str | None:
        owner_name = self.r.state.facts.get("owner_name")
        return owner_mention(self.r.state.owner, str(owner_name) if owner_name else None)

    async def publish(self) -> None:
        """Show the change: the alert (posted once, then updated in place), then the Homes
        of the people it concerns."""
        await self._publish_alert()
        await self.r.sync_home()

    async def escalate(self, text: str | None, due: datetime) -> None:
        """Show an escalation that fell ``due``: the alert's update with the escalation's line
        under it, the escalation channel's post (``text``; None when the rung posts nowhere),
        and the Homes.

        All from the workflow task the escalation's timer started, in one local activity
        (Slack's messages in order, the Home change handed to the worker's refresher first):
        no activity task, no second workflow task and no second local activity per escalation
        (a storm of escalations is a storm of these). A retried task runs it again; it finds
        what an earlier try posted (``SlackActivities.post_escalation``).
        """
        r, state = self.r, self.r.state
        if state.slack is None:
            # No alert to update (a digest's item escalates, or Slack refused the first alert):
            # the alert goes out as a first post does, beside the escalation channel's.
            posts = [self.post_escalation(text)] if text is not None else []
            await asyncio.gather(*posts, self.publish())
            return
        state.needs_publish = False
        r.show_details()
        update, threaded = self._alert_message()
        post = self._escalation_message(text, look_since=due) if text is not None else None
        await self._send_escalation(
            EscalationInput(update=update, post=post, home=r.home_change()), threaded
        )

    async def _send_escalation(self, escalation: EscalationInput, threaded: int) -> None:
        r, state = self.r, self.r.state
        try:
            sent = await workflow.execute_local_activity_method(
                SlackActivities.post_escalation,
                escalation,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except FailureError as err:
            # On the timeline; the next change updates the alert again.
            r.record("slack_failed", f"Could not post the escalation to Slack: {cause(err)}")
            return
        if sent.update_error:
            r.record("slack_failed", f"Could not update the alert in Slack: {sent.update_error}")
        self._replied(sent.update, threaded)
        if sent.post_error:
            r.record(
                "slack_failed",
                f"Could not post to {r.config.escalation_channel}: {sent.post_error}",
            )
        if sent.post is not None:
            self._escalation_posted(sent.post)
        if state.thread_queue:
            await self.thread(thread_text(state.take_thread_lines()))

    async def _publish_alert(self) -> None:
        """Post the alert once, then update that same message in place on every change."""
        r, state = self.r, self.r.state
        state.needs_publish = False
        if state.slack is None and state.diagnosis is not None and not state.windows_checked:
            await check_quiet_windows(self.r)
        if state.slack is None and state.window is not None and not state.window_over:
            # A quiet window holds it: nobody is pinged (closed meanwhile, nobody ever is).
            return
        if self._to_digest():
            await self._add_to_digest()
            if not state.digest_failed:
                await self._email_if_urgent()
                return
        r.show_details()
        if state.digest_id is not None and state.slack is None and state.closed:
            # Handled from the digest: nobody saw an alert, so none is posted to say it closed.
            return
        if state.slack is None and state.diagnosis and state.diagnosis.quiet_while_retrying:
            if state.quiet_now():
                if not any(e.kind == "quiet" for e in state.timeline):
                    r.record(
                        "quiet",
                        "Retrying on the recovery plan without pinging anyone; people hear of "
                        "it if the plan is exhausted",
                        thread=False,
                    )
                return
            if state.closed:
                return  # recovered quietly: nobody was told, so nobody is told it closed
            # The plan is exhausted: from now on people are told, and the ladder counts.
            state.attention_anchor = workflow.now()
        first_alert = state.slack is None
        message, threaded = self._alert_message()
        # A first run's first alert is posted from the workflow task (a local activity), so a
        # new remediation reaches Slack without a round trip to the server. A first try of
        # the first task has seen three events and the signals delivered with it; a longer
        # history means the task is tried again (a failed or timed-out try adds its own
        # events) or heartbeated, and this may have posted already: then Slack is searched
        # for the alert first.
        local = first_alert and r.first_run
        if local:
            message.look_first = workflow.info().get_current_history_length() > 3 + r.signals
        # The Home change rides with the alert: an update's as it is, a first post's without
        # the alert's ref, which the activity fills in once Slack gives it.
        home = r.home_posting() if first_alert else r.home_change()
        alert = AlertInput(message=message, home=home)
        result = await self._slack(SlackActivities.post_alert, alert, local=local)
        if result is None and first_alert:
            # Nobody has heard of it yet: try again on a durable timer, not at the next
            # state change (hours or days away), looking for an earlier post first.
            state.alert_failures += 1
            state.alert_retry_at = workflow.now() + alert_retry_delay(state.alert_failures)
            failed = state.timeline[-1]  # the slack_failed entry _post just recorded
            failed.text += f"; the alert is tried again at {state.alert_retry_at:%H:%M} UTC"
            failed.data["retry_at"] = state.alert_retry_at.isoformat()
        self._replied(result, threaded)
        if result and first_alert:
            state.alert_retry_at = None
            state.slack = SlackRef(channel=result.channel, ts=result.ts, permalink=result.permalink)
            r.home_posted(state.slack)
            state.first_notified_at = state.first_notified_at or workflow.now()
            r.record(
                "notified",
                f"Alert posted to {r.config.alert_channel}",
                data={"channel": result.channel, "ts": result.ts},
            )
            await self._email_if_urgent()
        if state.slack and state.thread_queue:
            # The timeline, threaded under the alert: one reply per batch of changes.
            await self.thread(thread_text(state.take_thread_lines()))

    def _alert_message(self) -> tuple[SlackMessageInput, int]:
        """The alert as it reads now (its first post, or the update of the posted one), with
        the timeline's queued lines as the reply under it: the message, and how many lines
        the reply carries."""
        r, state = self.r, self.r.state
        status = r.status()
        blocks = build_blocks(
            status,
            state.links,
            self.mention(),
            r.temporal_url(),
            state.notes if not state.closed else None,
        )
        message = SlackMessageInput(
            workflow_id=r.workflow_id,
            channel=state.slack.channel if state.slack else r.config.alert_channel,
            text=fallback_text(status),
            blocks=blocks,
            ts=state.slack.ts if state.slack else None,
            metadata_key=None if state.slack else r.key("alert"),
            look_since=None if state.slack else r.began_at(),
        )
        if not state.thread_queue:
            return message, 0
        # The change's reply rides with the alert's post or update: one activity, one trip.
        message.thread_text = thread_text(state.queued_thread_lines())
        message.thread_metadata_key = self._thread_key(state.thread_posts + 1)
        return message, len(state.thread_queue)

    def _replied(self, result: SlackMessageOutput | None, threaded: int) -> None:
        """The reply that rode with the alert was posted: its lines are off the queue."""
        if result and result.thread_ts:
            self.r.state.thread_posts += 1
            self.r.state.take_thread_lines(threaded)

    async def thread(self, text: str) -> None:
        """A reply under the alert (nothing while there is no alert)."""
        r, state = self.r, self.r.state
        if not state.slack:
            return
        state.thread_posts += 1
        await self._slack(
            SlackActivities.post_slack,
            SlackMessageInput(
                workflow_id=r.workflow_id,
                channel=state.slack.channel,
                text=text,
                blocks=thread_blocks(text),
                thread_ts=state.slack.ts,
                metadata_key=self._thread_key(state.thread_posts),
            ),
        )

    async def post_escalation(self, text: str) -> None:
        """The escalation channel's post, with the alert's content and buttons."""
        posted = await self._slack(SlackActivities.post_slack, self._escalation_message(text))
        if posted is not None:
            self._escalation_posted(posted)

    def _escalation_message(
        self, text: str, look_since: datetime | None = None
    ) -> SlackMessageInput:
        """The escalation channel's post of ``text``; with ``look_since``, a retry looks for it
        among the channel's posts since then."""
        r, state = self.r, self.r.state
        status = r.status()
        return SlackMessageInput(
            workflow_id=r.workflow_id,
            channel=r.config.escalation_channel,
            text=f"Escalated: {status.headline}",
            blocks=escalation_blocks(
                status,
                text,
                state.slack.permalink if state.slack else None,
                state.links,
                self.mention(),
                r.temporal_url(),
            ),
            metadata_key=r.key("escalation", state.escalation_level),
            permalink=False,  # nothing links to an escalation post
            look_since=look_since,
        )

    def _escalation_posted(self, posted: SlackMessageOutput) -> None:
        # Its buttons are this remediation's: the gateway accepts clicks on it.
        self.r.state.messages.append(SlackRef(channel=posted.channel, ts=posted.ts))

    def _thread_key(self, post: int) -> str:
        return self.r.key("thread", post)

    async def _slack(
        self, activity: Any, request: Any, local: bool = False
    ) -> SlackMessageOutput | None:
        execute = (
            workflow.execute_local_activity_method if local else workflow.execute_activity_method
        )
        try:
            result: SlackMessageOutput = await execute(
                activity,
                request,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except FailureError as err:
            # The remediation is still in Temporal and the failure on its timeline; the next
            # state change tries to post again.
            self.r.record("slack_failed", f"Could not post to Slack: {cause(err)}")
            return None
        return result

    # -- the digest and e-mail -----------------------------------------------------------------

    def _to_digest(self) -> bool:
        """Non-urgent and not escalated yet: the owner's daily digest instead of an alert."""
        state = self.r.state
        diagnosis = state.diagnosis
        if diagnosis is None or not diagnosis.alerting.digest or state.digest_failed:
            return False
        if state.slack is not None or state.escalation_level > 0:
            return False
        return diagnosis.severity not in diagnosis.alerting.immediate

    async def _add_to_digest(self) -> None:
        r, state = self.r, self.r.state
        r.show_details()
        diagnosis = state.diagnosis
        if state.digest_id is not None or state.closed or diagnosis is None:
            return
        owner = state.owner.email or state.account.owner_email or r.config.alert_channel
        request = DigestAddInput(
            digest=DigestInput(
                owner=owner,
                slack_user=state.owner.slack_user,
                channel=r.config.alert_channel,
                hour_utc=r.config.digest_hour_utc,
            ),
            item=DigestItem(
                workflow_id=r.workflow_id,
                headline=diagnosis.headline,
                severity=diagnosis.severity,
                error_type=diagnosis.error_type,
                summary=diagnosis.summary,
                actions=[
                    {"id": a.id, "label": a.label, "style": a.style}
                    for a in diagnosis.actions
                    if not a.select_from
                ],
            ),
        )
        try:
            added = await workflow.execute_activity_method(
                DigestActivities.digest_add,
                request,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except FailureError as err:
            # No digest to join: better one alert too many than a finding nobody sees.
            state.digest_failed = True
            r.record("digest_failed", f"Could not add to the digest: {cause(err)}")
            return
        state.digest_id = added.digest_id
        state.first_notified_at = workflow.now()
        r.record(
            "digested",
            f"Added to {owner}'s daily digest (severity {diagnosis.severity} "
            "does not alert at once)",
            data={"digest_id": added.digest_id},
        )

    async def _email_if_urgent(self) -> None:
        r, state = self.r, self.r.state
        diagnosis = state.diagnosis
        if state.emailed or diagnosis is None or diagnosis.severity not in diagnosis.alerting.email:
            return
        state.emailed = True
        on_record = state.owner.email or state.account.owner_email
        recipient = one_address(on_record)
        if not recipient:
            r.record(
                "email_skipped",
                f"The owner's e-mail on record ({on_record}) is not one valid address; "
                "no urgent e-mail sent"
                if on_record
                else "No owner e-mail on record for the urgent e-mail",
            )
            return
        subject, text, html = alert_email(r.status(), state.links, r.temporal_url())
        try:
            sent = await workflow.execute_activity_method(
                EmailActivities.send_email,
                EmailInput(
                    to=[recipient],
                    subject=subject,
                    text=text,
                    html=html,
                    message_id_key=r.key("email"),
                ),
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except FailureError as err:
            r.record("email_failed", f"Could not e-mail {recipient}: {cause(err)}")
            return
        r.record(
            "emailed",
            f"E-mailed {', '.join(sent.accepted) or recipient} (severity {diagnosis.severity})",
            data={"message_id": sent.message_id},
        )
