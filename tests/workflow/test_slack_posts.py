"""Every Slack post an activity makes reaches Slack once, against a sandbox as strict as Slack.

An attempt that fails after Slack took its post (the answer lost, too late for the step's
timeout) is retried, and the retry finds the earlier post by its metadata key instead of
posting again: the finance notice, a channel notice, the alert. Slack's rate limits answer
429 with ``Retry-After``, and Canary waits that long before it tries again. A text longer
than Slack takes is cut, not refused. Every claim is checked on what the sandbox recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import SlackActivities, StepActivities
from activities.slack import CLOCK_MARGIN
from canary.adapters import SlackAdapter, slack_adapter
from canary.models import (
    AccountRef,
    AlertInput,
    Detection,
    EscalationInput,
    RemediationStatus,
    SlackMessageInput,
    SlackMessageOutput,
    Step,
    StepInput,
    Subject,
)
from canary.models.home import HomeChanged, HomePeople, carried, memo_of, shown
from starter.intake import get_status
from tests.helpers import eventually
from tests.stack import SLACK_TOKEN, LiveStack, live_stack
from tests.workflow.test_faults import (
    add_fault,
    customer_with_card,
    decline,
    draft_invoice,
    kinds,
    waiting_for_a_person,
)
from workflows import remediation_id

pytestmark = pytest.mark.timeout(180)
R = TypeVar("R")
T = TypeVar("T")


@pytest.fixture()
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    # A stack per test: faults and rate limits are the sandbox's, and a test's must meet only
    # its own calls. Steps time out after 2 s, so a late answer makes Temporal retry them.
    async with live_stack(dev_env.client, step_timeout_seconds=2.0) as live:
        yield live


async def posts(stack: LiveStack, channel_id: str, **filters: Any) -> list[dict[str, Any]]:
    """The chat.postMessage calls the sandbox answered for ``channel_id``."""
    calls = await stack.requests(service="slack", path="/api/chat.postMessage", **filters)
    return [c for c in calls if not c["fault"] and (c["body"] or {}).get("channel") == channel_id]


def key_of(call: dict[str, Any]) -> str:
    return str(call["body"]["metadata"]["event_payload"]["key"])


async def test_a_finance_notice_whose_answer_came_too_late_is_posted_once(
    stack: LiveStack,
) -> None:
    """A fraudulent card: Canary tells finance. Slack takes the notice but answers after the
    step's timeout, so Temporal runs the step again; the retry finds the notice in #finance
    and posts nothing."""
    customer = await asyncio.to_thread(
        customer_with_card, stack.stripe, "pm_card_chargeDeclinedFraudulent"
    )
    invoice = await asyncio.to_thread(draft_invoice, stack.stripe, customer)
    # The remediation's first post is the notice (its steps run before the alert).
    await add_fault(
        stack,
        service="slack",
        path="/api/chat.postMessage",
        passthrough=True,
        respond_after=5.0,
        times=1,
    )
    await asyncio.to_thread(decline, stack.stripe, invoice)
    workflow_id = remediation_id("payment_failed", "invoice", invoice)

    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: (
            s is not None
            and s.slack is not None
            and any(
                e.data.get("step") == "notify-finance"
                for e in s.timeline
                if e.kind == "step_succeeded"
            )
        ),
        timeout=60,
    )
    notices = [m for m in await stack.messages("#finance") if invoice in m["text"]]
    assert len(notices) == 1, notices
    sent = [key_of(c) for c in await posts(stack, "C0FINANCE")]
    assert len(sent) == 1, sent
    assert sent[0].startswith(f"{workflow_id}/") and sent[0].endswith("/finance")
    looked = await stack.requests(service="slack", path="/api/conversations.history")
    finance = [c for c in looked if c["body"].get("channel") == "C0FINANCE"]
    assert finance, "the retry looked first"
    # Among the posts since its step was first scheduled (less Slack's clock margin), not in
    # the whole channel.
    detected = next(e.at for e in status.timeline if e.kind == "detected")
    since = (detected - CLOCK_MARGIN).timestamp()
    assert all(abs(float(c["body"]["oldest"]) - since) < 30 for c in finance)
    assert "step_failed" not in kinds(status)


async def test_a_channel_notice_retried_after_slack_took_it_is_posted_once(
    stack: LiveStack,
) -> None:
    """``slack.notify_channel`` on its own: the first attempt's post reaches Slack, its answer
    does not reach Canary in time (the client gives up after 1 s), the activity fails; its
    retry posts nothing."""
    tag = uuid.uuid4().hex[:8]
    steps = StepActivities(
        stack.services(slack=SlackAdapter(SLACK_TOKEN, stack.settings.slack_api_url, timeout=1))
    )
    request = StepInput(
        workflow_id=f"low_adoption:app_account:{tag}",
        step=Step(
            id="tell-cs",
            action="slack.notify_channel",
            title="Tell customer success",
            params={"channel": "#customer-success", "text": "Adoption is low at {account.name}"},
        ),
        attempt_key=f"low_adoption:app_account:{tag}/run/tell-cs/1",
        detection=Detection(
            source="detector:adoption",
            type="low_adoption",
            subject={"kind": "app_account", "id": f"app_{tag}"},
            account={"name": f"Umbrella {tag}"},
        ),
    )
    await add_fault(
        stack,
        service="slack",
        path="/api/chat.postMessage",
        passthrough=True,
        respond_after=3.0,
        times=1,
    )
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as lost:
        await env.run(steps.run_step, request)
    assert lost.value.type == "slack.transient" and not lost.value.non_retryable

    env.info = dataclasses.replace(env.info, attempt=2)
    done = await env.run(steps.run_step, request)

    assert done.ok
    shown = [m for m in await stack.messages("#customer-success") if tag in m["text"]]
    assert [m["text"] for m in shown] == [f"Adoption is low at Umbrella {tag}"]
    assert [key_of(c) for c in await posts(stack, "C0CUSTSUCCESS")] == [
        f"{request.attempt_key}/notify"
    ]


async def test_a_text_longer_than_slack_takes_is_cut(stack: LiveStack) -> None:
    """A batch of thread lines can add up to more than a message's 40,000 characters: Slack
    would refuse it (msg_too_long) and the reply would never be seen; it is cut instead."""
    activities = SlackActivities(stack.services())
    line = "`10:00` canary: Stripe declined the card again. " * 60
    text = "\n".join([line] * 20)
    assert len(text) > 40_000
    posted = await ActivityEnvironment().run(
        activities.post_slack,
        SlackMessageInput(
            workflow_id="w",
            channel="#gtm-alerts",
            text=text,
            blocks=[],
            metadata_key=f"long-{uuid.uuid4().hex[:8]}",
            permalink=False,
        ),
    )
    kept = next(m for m in await stack.messages("#gtm-alerts") if m["ts"] == posted.ts)
    assert len(kept["text"]) == 40_000 and kept["text"].endswith("…")
    assert text.startswith(kept["text"][:-1])


async def test_a_retry_finds_its_post_behind_a_burst_of_newer_ones(stack: LiveStack) -> None:
    """A burst of alerts: an alert's first try posted it, and 250 other alerts (more than one
    page of the channel's history) were posted before its task was tried again. The retry
    reads the pages back to its post and finds it; it posts nothing. A post older than the
    look's start (less Slack's clock margin) is not looked for: such a look posts again."""
    tag = uuid.uuid4().hex[:8]
    activities = SlackActivities(stack.services())
    started = datetime.now(UTC)
    alert = alert_message(tag).model_copy(update={"look_since": started})
    first = await ActivityEnvironment().run(activities.post_slack, alert)
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")

    def burst() -> None:
        for n in range(250):
            key = f"alert-{tag}-other-{n}"
            slack.chat_postMessage(
                channel="#gtm-alerts",
                text=f"Another alert {n}",
                metadata={"event_type": "canary_remediation", "event_payload": {"key": key}},
            )

    await asyncio.to_thread(burst)
    looks = len(await stack.requests(service="slack", path="/api/conversations.history"))

    retried = dataclasses.replace(ActivityEnvironment().info, attempt=2)
    env = ActivityEnvironment()
    env.info = retried
    again = await env.run(activities.post_slack, alert.model_copy(update={"look_first": True}))

    assert again.ts == first.ts and again.found_earlier
    assert [
        key_of(c) for c in await posts(stack, "C0GTMALERTS") if key_of(c) == alert.metadata_key
    ] == [f"alert-{tag}"]
    history = await stack.requests(service="slack", path="/api/conversations.history")
    assert len(history) - looks == 2, "the look read a second page"
    assert all(float(c["query"]["oldest"]) < started.timestamp() for c in history[looks:])

    # Slack's clock may be CLOCK_MARGIN behind: a look starts that much before its post.
    after = datetime.now(UTC) + CLOCK_MARGIN + timedelta(seconds=1)
    later = alert.model_copy(update={"look_first": True, "look_since": after})
    made = await ActivityEnvironment().run(activities.post_slack, later)
    assert made.ts != first.ts and not made.found_earlier


async def test_a_look_reads_at_most_its_pages(
    stack: LiveStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However busy the channel, a look reads ``MAX_LOOK_PAGES`` pages and no more: Slack's
    history is rate limited, and a retry does not wait out a channel's whole past."""
    tag = uuid.uuid4().hex[:8]
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")
    adapter = stack.services().slack

    def burst() -> None:
        for n in range(7):
            slack.chat_postMessage(channel="#gtm-alerts", text=f"Busy {tag} {n}")

    await asyncio.to_thread(burst)
    before = len(await stack.requests(service="slack", path="/api/conversations.history"))
    monkeypatch.setattr(slack_adapter, "MAX_LOOK_PAGES", 3)
    assert await adapter.find_by_metadata("#gtm-alerts", f"gone-{tag}", limit=2) is None
    looked = await stack.requests(service="slack", path="/api/conversations.history")
    assert len(looked) - before == 3
    assert [c["query"].get("cursor") is None for c in looked[before:]] == [True, False, False]


def alert_message(tag: str) -> SlackMessageInput:
    """An alert for #gtm-alerts, its text naming ``tag``."""
    return SlackMessageInput(
        workflow_id="w",
        channel="#gtm-alerts",
        text=f"Payment failed {tag}",
        blocks=[],
        metadata_key=f"alert-{tag}",
        permalink=False,
    )


async def posted_alert(activities: SlackActivities, tag: str) -> SlackMessageOutput:
    """An alert posted to #gtm-alerts (its text names ``tag``)."""
    return await ActivityEnvironment().run(activities.post_slack, alert_message(tag))


def alert_update(ts: str, tag: str, line: str) -> SlackMessageInput:
    """The update of the alert ``ts`` (see posted_alert), with ``line`` under it."""
    return SlackMessageInput(
        workflow_id="w",
        channel="#gtm-alerts",
        text=f"Payment failed {tag} — escalated",
        blocks=[],
        ts=ts,
        thread_text=line,
        thread_metadata_key=f"alert-{tag}/thread/1",
    )


async def answer_lost_then_retried(
    stack: LiveStack, activity: Callable[[R], Awaitable[T]], request: R, skip: int = 0
) -> T:
    """Run ``activity``: Slack takes its chat.postMessage (after ``skip`` of them) but answers
    too late for the client (a 1 s timeout), so the attempt fails as transient; then its
    retry (attempt 2), whose answer this returns."""
    await add_fault(
        stack,
        service="slack",
        path="/api/chat.postMessage",
        passthrough=True,
        respond_after=3.0,
        times=1,
        skip=skip,
    )
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as lost:
        await env.run(activity, request)
    assert lost.value.type == "slack.transient"
    env.info = dataclasses.replace(env.info, attempt=2)
    return await env.run(activity, request)


async def test_an_update_and_its_thread_reply_go_in_one_call_and_the_reply_once(
    stack: LiveStack,
) -> None:
    """A change updates the alert and posts its thread reply in one activity (one round trip
    for the workflow). The reply's answer is lost (too late for the client), the activity
    fails; its retry updates the alert again (harmless) and finds the reply instead of
    posting it twice."""
    tag = uuid.uuid4().hex[:8]
    fast = SlackAdapter(SLACK_TOKEN, stack.settings.slack_api_url, timeout=1)
    activities = SlackActivities(stack.services(slack=fast))
    alert = await posted_alert(activities, tag)
    update = alert_update(alert.ts, tag, f"`10:00` :bell: <@U0ALICE> Still unpaid {tag}")
    done = await answer_lost_then_retried(stack, activities.post_slack, update)

    replies = [c for c in await posts(stack, "C0GTMALERTS") if c["body"].get("thread_ts")]
    assert [key_of(c) for c in replies] == [f"alert-{tag}/thread/1"]
    assert done.ts == alert.ts and done.thread_ts == replies[0]["response"]["ts"]
    updates = await stack.requests(service="slack", path="/api/chat.update")
    assert [u["body"]["text"] for u in updates if tag in u["body"]["text"]] == [
        f"Payment failed {tag} — escalated"
    ] * 2


async def alert_and_escalation(
    activities: SlackActivities, tag: str, *, escalation_channel: str = "#gtm-escalations"
) -> EscalationInput:
    """An alert posted to #gtm-alerts, and its escalation's messages: the alert's update with
    the line under it, and the escalation channel's post."""
    alert = await posted_alert(activities, tag)
    line = f"`10:00` :rotating_light: Escalated to {escalation_channel} {tag}"
    return EscalationInput(
        update=alert_update(alert.ts, tag, line),
        post=SlackMessageInput(
            workflow_id="w",
            channel=escalation_channel,
            text=f"Escalated: Payment failed {tag}",
            blocks=[],
            metadata_key=f"alert-{tag}/escalation/1",
            permalink=False,
            look_since=datetime.now(UTC),
        ),
    )


async def test_an_escalation_whose_post_was_lost_is_made_once_on_the_retry(
    stack: LiveStack,
) -> None:
    """An escalation's two messages in one activity: the alert's update with its line, then
    the escalation channel's post. Slack takes the post but its answer is lost; the retry
    updates the alert again (harmless), finds the line in the thread and the post in the
    channel, and posts neither twice."""
    tag = uuid.uuid4().hex[:8]
    fast = SlackAdapter(SLACK_TOKEN, stack.settings.slack_api_url, timeout=1)
    activities = SlackActivities(stack.services(slack=fast))
    request = await alert_and_escalation(activities, tag)
    # The activity's second post (the escalation channel's, after the line) is lost.
    done = await answer_lost_then_retried(stack, activities.post_escalation, request, skip=1)

    lines = [c for c in await posts(stack, "C0GTMALERTS") if c["body"].get("thread_ts")]
    assert [key_of(c) for c in lines] == [f"alert-{tag}/thread/1"]
    posted = await posts(stack, "C0GTMESCAL")
    assert [key_of(c) for c in posted if tag in key_of(c)] == [f"alert-{tag}/escalation/1"]
    assert done.post is not None and done.post.found_earlier
    assert done.update is not None and done.update.found_earlier
    assert done.update_error is None and done.post_error is None


async def test_an_escalation_channel_slack_refuses_still_leaves_its_line_under_the_alert(
    stack: LiveStack,
) -> None:
    """The escalation channel is one Slack does not know (renamed, or a typo in the settings):
    the post is refused for good, and said so, and the alert's update and its line are still
    made, once; nothing is retried."""
    tag = uuid.uuid4().hex[:8]
    activities = SlackActivities(stack.services())
    request = await alert_and_escalation(activities, tag, escalation_channel="#gtm-escalatoins")

    done = await ActivityEnvironment().run(activities.post_escalation, request)

    assert done.post is None
    assert done.post_error == "slack: channel #gtm-escalatoins not found (is the app invited?)"
    assert done.update is not None and done.update.thread_ts and done.update_error is None
    lines = [c for c in await posts(stack, "C0GTMALERTS") if c["body"].get("thread_ts")]
    assert [key_of(c) for c in lines] == [f"alert-{tag}/thread/1"]


async def test_an_escalation_hands_its_home_change_over_before_slack_answers(
    stack: LiveStack,
) -> None:
    """The Home change an escalation carries reaches the worker's refresher first: with Slack
    unreachable the activity fails (and is retried), and the Homes are told all the same."""
    tag = uuid.uuid4().hex[:8]
    request = await alert_and_escalation(SlackActivities(stack.services()), tag)
    request.home = HomeChanged(
        workflow_id=f"w-{tag}",
        updated_at=datetime.now(UTC),
        people=HomePeople(user_ids=["U0ALICE"]),
        entry="{}",
    )
    told: list[HomeChanged] = []
    unreachable = SlackAdapter(SLACK_TOKEN, "http://127.0.0.1:9/api/", timeout=1)
    activities = SlackActivities(stack.services(slack=unreachable), tell_homes=told.append)

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activities.post_escalation, request)
    assert failed.value.type == "slack.transient" and not failed.value.non_retryable

    assert told == [request.home]
    assert not [c for c in await posts(stack, "C0GTMESCAL") if tag in key_of(c)]


def home_change(tag: str) -> HomeChanged:
    """A remediation's Home change before its alert is posted (no alert to link yet)."""
    now = datetime.now(UTC)
    entry = RemediationStatus(
        workflow_id=f"w-{tag}",
        error_type="payment_failed",
        state="awaiting_human",
        subject=Subject(kind="invoice", id=f"in_{tag}"),
        subject_id=f"in_{tag}",
        account=AccountRef(name="Acme"),
        headline=f"Payment failed {tag}",
        started_at=now,
        updated_at=now,
    )
    return HomeChanged(
        workflow_id=entry.workflow_id,
        updated_at=now,
        people=HomePeople(user_ids=["U0ALICE"]),
        entry=carried(memo_of(entry)),
    )


async def test_an_alert_tells_the_homes_of_its_change_with_the_posted_message(
    stack: LiveStack,
) -> None:
    """The first alert's Home change reaches the refresher once Slack has the alert, its
    entry naming the posted message (a Home links the alert); a post Slack refuses for good
    tells nobody (the remediation tells the Homes itself). An update's change is handed over
    before Slack is called: with Slack unreachable the Homes are told all the same."""
    tag = uuid.uuid4().hex[:8]
    told: list[HomeChanged] = []
    activities = SlackActivities(stack.services(), tell_homes=told.append)
    first = SlackMessageInput(
        workflow_id=f"w-{tag}",
        channel="#gtm-alerts",
        text=f"Payment failed {tag}",
        blocks=[],
        metadata_key=f"alert-{tag}",
    )
    change = home_change(tag)

    posted = await ActivityEnvironment().run(
        activities.post_alert, AlertInput(message=first, home=change)
    )

    [alerted] = told
    entry = alerted.read()
    assert entry is not None and entry.slack is not None
    assert (entry.slack.channel, entry.slack.ts) == (posted.channel, posted.ts)
    assert entry.slack.permalink == posted.permalink and posted.permalink
    assert shown(entry.model_copy(update={"slack": None})) == shown(change.read())
    calls = [c for c in await posts(stack, "C0GTMALERTS") if tag in key_of(c)]
    assert [key_of(c) for c in calls] == [f"alert-{tag}"]

    refused = first.model_copy(update={"channel": "#gtm-alrets", "metadata_key": f"x-{tag}"})
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(
            activities.post_alert, AlertInput(message=refused, home=change)
        )
    assert failed.value.non_retryable and told == [alerted]

    unreachable = SlackAdapter(SLACK_TOKEN, "http://127.0.0.1:9/api/", timeout=1)
    offline = SlackActivities(stack.services(slack=unreachable), tell_homes=told.append)
    update = first.model_copy(update={"ts": posted.ts, "metadata_key": None})
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(offline.post_alert, AlertInput(message=update, home=change))
    assert told == [alerted, change]


async def test_an_escalation_of_an_alert_that_is_gone_is_still_posted(
    stack: LiveStack,
) -> None:
    """The alert is not in #gtm-alerts any more (someone deleted it): its update is refused
    for good (message_not_found), and the escalation channel still hears of the escalation."""
    tag = uuid.uuid4().hex[:8]
    activities = SlackActivities(stack.services())
    request = await alert_and_escalation(activities, tag)
    request.update.ts = "1600000000.000001"

    done = await ActivityEnvironment().run(activities.post_escalation, request)

    assert done.update is None and done.update_error == "slack: message_not_found"
    assert done.post is not None and done.post_error is None
    assert [key_of(c) for c in await posts(stack, "C0GTMESCAL") if tag in key_of(c)] == [
        f"alert-{tag}/escalation/1"
    ]


async def test_a_rate_limited_alert_waits_as_slack_asks_and_is_posted_once(
    stack: LiveStack,
) -> None:
    """Slack's per-channel posting limit, here one message every 15 s: a post just before the
    alert leaves it none. The alert is answered 429 with Retry-After; Canary waits that long
    (its own policy would try again after 1, 2 and 4 s, and be refused each time), then posts
    it once."""
    limits = {"enabled": True, "post_per_second": 1 / 15, "post_burst": 1}
    answer = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/config", json={"slack_rate_limits": limits}
    )
    answer.raise_for_status()
    customer = await asyncio.to_thread(
        customer_with_card, stack.stripe, "pm_card_chargeDeclinedInsufficientFunds"
    )
    invoice = await asyncio.to_thread(draft_invoice, stack.stripe, customer)
    slack = WebClient(token=SLACK_TOKEN, base_url=f"{stack.sandbox.url}/api/")
    await asyncio.to_thread(slack.chat_postMessage, channel="#gtm-alerts", text="Good morning")
    await asyncio.to_thread(decline, stack.stripe, invoice)
    workflow_id = remediation_id("payment_failed", "invoice", invoice)

    status = await waiting_for_a_person(stack, workflow_id)

    calls = await stack.requests(service="slack", path="/api/chat.postMessage")
    alert_calls = [
        c
        for c in calls
        if (c["body"] or {}).get("metadata") and key_of(c).startswith(f"{workflow_id}/")
    ]
    by_key: dict[str, list[int]] = {}
    for c in alert_calls:
        by_key.setdefault(key_of(c), []).append(c["status"])
    alert_key = next(k for k in by_key if k.endswith("/alert"))
    assert by_key[alert_key] == [429, 200], by_key
    assert all(codes.count(429) <= 1 and codes.count(200) == 1 for codes in by_key.values())
    refused = next(c for c in alert_calls if c["status"] == 429)
    assert refused["response"] == {"ok": False, "error": "ratelimited"}
    alerts = [
        m
        for m in await stack.messages("#gtm-alerts")
        if m.get("thread_ts") in (None, m["ts"]) and invoice in str(m.get("blocks"))
    ]
    assert len(alerts) == 1
    assert "slack_failed" not in kinds(status)
