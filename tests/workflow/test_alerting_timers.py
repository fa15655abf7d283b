"""Alert frequency over days of timers, on the time-skipping server: the per-owner daily
digest, e-mail for urgent findings, escalation out of the digest, and the cooldown that
keeps a dismissed finding quiet.

Slack and the SOP steps are fakes (tests/fakes.py); the digest and e-mail activities are the
real ones (they need only Temporal and the SMTP sink)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities import DigestActivities, EmailActivities, Services
from activities.digest import digest_id
from canary.converter import canary_data_converter
from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from canary.models.detectors import DigestFlushResult
from canary.settings import Settings
from sandbox.smtp import SmtpSink
from starter.intake import submit_detection
from tests.fakes import FakeServices
from workflows import DigestWorkflow, RemediationWorkflow

pytestmark = pytest.mark.asyncio


@dataclass
class Env:
    env: WorkflowEnvironment
    fake: FakeServices
    sink: SmtpSink
    queue: str
    config: RemediationConfig
    settings: Settings

    started: list[str] = field(default_factory=list)

    async def start(self, detection: Detection) -> WorkflowHandle:
        handle = await self.env.client.start_workflow(
            RemediationWorkflow.run,
            # The detectors' trusted path: the owner they looked up in Salesforce, as
            # canary.raise_detection passes it (a report's own owner_email is not trusted).
            RemediationInput(
                detection=detection, config=self.config, owner_email=detection.account.owner_email
            ),
            id=f"{detection.type}:{detection.subject.kind}:{detection.subject.id}",
            task_queue=self.queue,
        )
        self.started.append(handle.id)
        return handle

    def alerts(self) -> list[Any]:
        """New top-level posts (not updates, not thread replies)."""
        return [p for p in self.fake.posts if not p.ts and not p.thread_ts]


@asynccontextmanager
async def alerting(
    env: WorkflowEnvironment, fake: FakeServices | None = None
) -> AsyncIterator[Env]:
    fake = fake or FakeServices()
    queue = f"alerting-{uuid.uuid4().hex[:6]}"
    now = await env.get_current_time()
    # The digest is due three hours from now, whatever time the test runs.
    hour = (now.hour + 3) % 24
    config = RemediationConfig(search_attributes=False, digest_hour_utc=hour)
    with SmtpSink() as sink:
        settings = Settings(
            task_queue=queue,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_starttls=False,
            digest_hour_utc=hour,
        )
        services = Services(settings, temporal=env.client)
        digest, email = DigestActivities(services), EmailActivities(services)
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[RemediationWorkflow, DigestWorkflow],
            activities=[*fake.all(), digest.digest_add, digest.digest_states, email.send_email],
        ):
            t = Env(env, fake, sink, queue, config, settings)
            try:
                yield t
            finally:
                # Workflows left with timers on a queue nobody polls would stall the shared
                # time-skipping server for the tests that run after this one.
                for workflow_id in {*t.started, digest_id("carol@x.example")}:
                    try:
                        await env.client.get_workflow_handle(workflow_id).terminate("test over")
                    except RPCError:
                        pass  # already finished


def finding(error_type: str, subject: str, **facts: Any) -> Detection:
    kind = {"account_shift": "account_metric", "irate_customer": "case"}.get(error_type, "account")
    return Detection(
        id=f"{error_type}:{subject}:day1",
        type=error_type,
        source="detector:test",
        subject={"kind": kind, "id": subject},
        account={"name": f"Acct {subject}", "crm_id": "001X", "owner_email": "carol@x.example"},
        message=f"{error_type} on {subject}",
        facts=facts,
    )


async def status(handle: WorkflowHandle) -> RemediationStatus:
    return await handle.query(RemediationWorkflow.status)


def kinds(current: RemediationStatus) -> list[str]:
    return [e.kind for e in current.timeline]


async def test_digest_email_escalation_and_cooldown(skip_env: WorkflowEnvironment) -> None:
    async with alerting(skip_env) as t:
        low = await t.start(finding("low_adoption", "low-1", value_display="12.0%"))
        up = await t.start(finding("account_shift", "up-1", direction="up", change_display="+80%"))
        down = await t.start(
            finding("account_shift", "down-1", direction="down", change_display="-60%")
        )
        angry = await t.start(finding("irate_customer", "500A", quote="This is unacceptable"))
        await skip_env.sleep(timedelta(minutes=30))

        # Only the critical one alerted at once; the others joined Carol's digest.
        alerts = t.alerts()
        assert [p.channel for p in alerts] == ["#gtm-alerts"]
        assert "Irate customer" in alerts[0].text
        assert "notified" in kinds(await status(angry))
        for handle in (low, up, down):
            current = await status(handle)
            assert "digested" in kinds(current) and "notified" not in kinds(current)
        digest = skip_env.client.get_workflow_handle(
            digest_id("carol@x.example"), result_type=DigestFlushResult
        )
        pending = await digest.query(DigestWorkflow.pending)
        assert sorted(i.workflow_id for i in pending) == sorted([low.id, up.id, down.id])

        # Urgent ones (high, critical) were e-mailed to the owner; low and medium were not.
        subjects = sorted(m.subject for m in t.sink.messages)
        assert len(subjects) == 2
        assert subjects[0].startswith("[Canary critical] Irate customer")
        assert subjects[1].startswith("[Canary high]")
        assert all(m.rcpt_tos == ["carol@x.example"] for m in t.sink.messages)

        # The owner (the fake Slack's Alice) dismisses the spend rise from the digest before
        # it is posted.
        dismissed = await up.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
        )
        assert dismissed.accepted and dismissed.outcome == "dismissed"

        # At the digest hour: one message listing what is still open, with buttons per item.
        await skip_env.sleep(timedelta(hours=3))
        result: DigestFlushResult = await digest.result()
        assert result.posted and sorted(result.items) == sorted([low.id, down.id])
        assert result.dropped == [up.id]
        digests = [p for p in t.alerts() if p.text.startswith("Daily digest")]
        assert len(digests) == 1
        values = {
            e["value"] for b in digests[0].blocks if b["type"] == "actions" for e in b["elements"]
        }
        assert values == {low.id, down.id}
        assert "<@U0ALICE>" in digests[0].text  # the fake Slack resolves every owner to Alice

        # The dismissed finding is reported again the next day: folded in, no new alert.
        await skip_env.sleep(timedelta(days=1))
        posts_before = len(t.fake.posts)
        again = finding("account_shift", "up-1", direction="up").model_copy(
            update={"id": "account_shift:up-1:day2"}
        )
        submitted = await submit_detection(
            skip_env.client,
            again,
            t.settings,
            search_attributes=False,
            owner_email=again.account.owner_email,
        )
        assert submitted.workflow_id == up.id
        await skip_env.sleep(timedelta(minutes=5))
        current = await status(up)
        assert current.state == "dismissed" and "suppressed" in kinds(current)
        assert current.occurrences == 1
        assert len(t.fake.posts) == posts_before
        assert (await up.describe()).status == WorkflowExecutionStatus.RUNNING

        # Prolonged non-compliance: after its escalation wait the low-adoption finding leaves
        # the digest and alerts on its own (low_adoption escalates to the owner after 7 days).
        await skip_env.sleep(timedelta(days=7))
        current = await status(low)
        assert current.escalation_level == 1 and "notified" in kinds(current)
        assert any(p.workflow_id == low.id for p in t.alerts())

        # After the 14-day cooldown the dismissed run ends; a new finding starts a new run
        # that goes to a (new) digest again.
        await skip_env.sleep(timedelta(days=7))
        assert (await up.describe()).status == WorkflowExecutionStatus.COMPLETED
        third = finding("account_shift", "up-1", direction="up").model_copy(
            update={"id": "account_shift:up-1:day16"}
        )
        await submit_detection(
            skip_env.client,
            third,
            t.settings,
            search_attributes=False,
            owner_email=third.account.owner_email,
        )
        await skip_env.sleep(timedelta(minutes=5))
        fresh = await status(skip_env.client.get_workflow_handle(up.id))
        assert fresh.state == "awaiting_human" and "digested" in kinds(fresh)
        assert fresh.occurrences == 1

        # The histories these paths wrote replay deterministically against the code.
        replayer = Replayer(
            workflows=[RemediationWorkflow, DigestWorkflow], data_converter=canary_data_converter
        )
        for handle in (digest, low, up):
            history = await skip_env.client.get_workflow_handle(
                handle.id, run_id=handle.result_run_id or handle.run_id
            ).fetch_history()
            await replayer.replay_workflow(history)


async def test_without_alerting_nothing_changes(skip_env: WorkflowEnvironment) -> None:
    """The webhook SOPs keep posting at once and finish when closed (no digest, no cooldown)."""
    async with alerting(skip_env) as t:
        detection = Detection(
            id=f"evt_{uuid.uuid4().hex[:8]}",
            source="stripe",
            subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:10]}"},
            account={"name": "Globex", "owner_email": "alice@x.example"},
            message="Your card was declined.",
            facts={"event_type": "invoice.payment_failed", "decline_code": "fraudulent"},
        )
        handle = await t.start(detection)
        await skip_env.sleep(timedelta(minutes=1))
        assert [p.channel for p in t.alerts()] == ["#gtm-alerts"]
        await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
        )
        record = await handle.result()
        assert record.outcome == "dismissed"
        assert "cooldown" not in [e.kind for e in record.timeline]
        assert t.sink.messages == []
