"""Quiet windows on the time-skipping server: while a window is open, a matching remediation
is made and diagnosed but pings nobody; at the end it alerts once, saying it opened during the
window; ended early, it alerts at once; a worker restarted at the end still alerts once;
a remediation the window does not name alerts as usual."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    Detection,
    QuietWindow,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from tests.fakes import FakeServices
from workflows import QuietWindowWorkflow, RemediationWorkflow
from workflows.ids import window_workflow_id


def zap_failure(account: str) -> Detection:
    return Detection(
        id=f"run-{uuid.uuid4().hex[:8]}",
        source="zapier",
        subject={"kind": "zap_run", "id": f"zap-{uuid.uuid4().hex[:8]}"},
        account={"name": account},
        message="Zap 'Sync invoices' failed: Stripe returned 502",
    )


def migration(now: datetime, days: int = 3) -> QuietWindow:
    return QuietWindow(
        id=f"hooli-billing-{uuid.uuid4().hex[:6]}",
        account="hooli",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=days),
        reason="Hooli billing migration",
        opened_by="dana@acme-gtm.example",
    )


def top_level(fake: FakeServices) -> list[str]:
    """The alerts posted (not their updates, thread replies or escalation posts)."""
    return [
        p.workflow_id
        for p in fake.posts
        if p.channel == "#gtm-alerts" and not p.ts and not p.thread_ts
    ]


async def start(
    env: WorkflowEnvironment, detection: Detection, queue: str
) -> WorkflowHandle[RemediationWorkflow, object]:
    return await env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(detection=detection, config=RemediationConfig(search_attributes=False)),
        id=f"unknown:zap_run:{detection.subject.id}",
        task_queue=queue,
    )


def worker(env: WorkflowEnvironment, fake: FakeServices, queue: str, cached: int = 1000) -> Worker:
    return Worker(
        env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow, QuietWindowWorkflow],
        activities=fake.all(),
        max_cached_workflows=cached,
    )


async def opened(env: WorkflowEnvironment, window: QuietWindow, queue: str) -> None:
    """The window's own workflow, as `canary windows open` starts it."""
    await env.client.start_workflow(
        QuietWindowWorkflow.run, window, id=window_workflow_id(window.id), task_queue=queue
    )


async def status_of(handle: WorkflowHandle[RemediationWorkflow, object]) -> RemediationStatus:
    return await handle.query(RemediationWorkflow.status)


@pytest.mark.asyncio
async def test_a_window_mutes_until_its_end_then_alerts_once(
    skip_env: WorkflowEnvironment,
) -> None:
    now = await skip_env.get_current_time()
    window = migration(now)
    fake = FakeServices(windows=[window])
    queue = f"window-{uuid.uuid4().hex[:6]}"
    async with worker(skip_env, fake, queue):
        await opened(skip_env, window, queue)
        hooli = await start(skip_env, zap_failure("Hooli"), queue)
        other = await start(skip_env, zap_failure("Initech"), queue)
        await skip_env.sleep(timedelta(days=2))
        muted = await status_of(hooli)
        assert muted.state == "awaiting_human" and muted.slack is None
        assert "muted" in [e.kind for e in muted.timeline]
        assert len(top_level(fake)) == 1, "only Initech's alert, which no window names"
        assert muted.escalation_level == 0, "no ladder while the window holds it"
        await skip_env.sleep(timedelta(days=1, hours=1))
        ended = await status_of(hooli)
    assert ended.slack is not None
    alerts = top_level(fake)
    assert len(alerts) == 2
    hooli_alert = next(p for p in fake.posts if p.workflow_id == hooli.id and not p.ts)
    assert "Opened during the quiet window “Hooli billing migration”" in str(hooli_alert.blocks)
    await hooli.terminate("test over")
    await other.terminate("test over")


@pytest.mark.asyncio
async def test_a_window_ended_early_alerts_what_it_muted_at_once(
    skip_env: WorkflowEnvironment,
) -> None:
    now = await skip_env.get_current_time()
    window = migration(now, days=7)
    fake = FakeServices(windows=[window])
    queue = f"window-{uuid.uuid4().hex[:6]}"
    async with worker(skip_env, fake, queue):
        opened = await skip_env.client.start_workflow(
            QuietWindowWorkflow.run, window, id=window_workflow_id(window.id), task_queue=queue
        )
        hooli = await start(skip_env, zap_failure("HOOLI"), queue)
        await skip_env.sleep(timedelta(hours=1))
        assert await opened.query(QuietWindowWorkflow.muted_remediations) == [hooli.id]
        assert top_level(fake) == []
        ended = await opened.execute_update(QuietWindowWorkflow.end, "U0DANA")
        assert ended.ended_by == "U0DANA"
        final = await opened.result()
        assert final.ended_at is not None and final.ended_at < window.ends_at
        await skip_env.sleep(timedelta(minutes=5))
        status = await status_of(hooli)
    assert status.slack is not None and len(top_level(fake)) == 1
    await hooli.terminate("test over")


@pytest.mark.asyncio
async def test_a_worker_restarted_at_the_window_s_end_alerts_once(
    skip_env: WorkflowEnvironment,
) -> None:
    now = await skip_env.get_current_time()
    window = migration(now, days=1)
    fake = FakeServices(windows=[window])
    queue = f"window-{uuid.uuid4().hex[:6]}"
    async with worker(skip_env, fake, queue, cached=0):
        await opened(skip_env, window, queue)
        hooli = await start(skip_env, zap_failure("Hooli"), queue)
        await skip_env.sleep(timedelta(days=1) - timedelta(minutes=2))
        assert (await status_of(hooli)).slack is None
    # The worker stops just before the end; a new one is there when the window's timer fires.
    # Nothing cached (no sticky queue either): each task replays the whole history.
    async with worker(skip_env, fake, queue, cached=0):
        await skip_env.sleep(timedelta(minutes=10))
        status = await status_of(hooli)
    assert status.slack is not None
    assert len(top_level(fake)) == 1, "alerted once, not once per worker"
    await hooli.terminate("test over")


@pytest.mark.asyncio
async def test_a_listed_window_whose_workflow_is_gone_mutes_nothing(
    skip_env: WorkflowEnvironment,
) -> None:
    """The listing lags (or a worker's cached listing is a few seconds old) behind a window
    ended early: telling the window fails, so the remediation alerts as usual."""
    now = await skip_env.get_current_time()
    fake = FakeServices(windows=[migration(now)])  # listed, but no workflow runs it
    queue = f"window-{uuid.uuid4().hex[:6]}"
    async with worker(skip_env, fake, queue):
        hooli = await start(skip_env, zap_failure("Hooli"), queue)
        await skip_env.sleep(timedelta(minutes=5))
        status = await status_of(hooli)
    assert status.slack is not None and top_level(fake) == [hooli.id]
    assert "Quiet window “Hooli billing migration” ended" in " ".join(
        e.text for e in status.timeline
    )
    await hooli.terminate("test over")


def test_a_window_must_name_something_and_end() -> None:
    now = datetime(2026, 12, 5, 9, 0).astimezone()
    with pytest.raises(ValueError, match="names an account, an error type or both"):
        QuietWindow(
            id="everything",
            starts_at=now,
            ends_at=now + timedelta(days=1),
            reason="mute it all",
            opened_by="x",
        )
    with pytest.raises(ValueError, match="at most 31 days"):
        QuietWindow(
            id="forever",
            account="hooli",
            starts_at=now,
            ends_at=now + timedelta(days=365),
            reason="forever",
            opened_by="x",
        )
    with pytest.raises(ValueError, match="window id"):
        QuietWindow(
            id="../../etc",
            account="hooli",
            starts_at=now,
            ends_at=now + timedelta(days=1),
            reason="r",
            opened_by="x",
        )
