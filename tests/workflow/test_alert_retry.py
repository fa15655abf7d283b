"""Slack down when a remediation alerts: the alert is tried again on a durable timer, with
backoff, for as long as the remediation is open, and posted once when Slack is back.

Without the timer the workflow gave up after the activity's own retries (a few minutes) and
waited for the next state change, hours or days away, with nobody told.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    SlackMessageInput,
)
from tests.fakes import FakeServices
from workflows import RemediationWorkflow
from workflows.policies import alert_retry_delay


@dataclass
class SlackDown(FakeServices):
    """Slack refuses the next ``refusals`` posts, then answers as usual."""

    refusals: int = 0
    answered: int = 0

    def __post_init__(self) -> None:
        self.on_post = self._maybe_refuse

    async def _maybe_refuse(self, request: SlackMessageInput) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            # Refused for good each time, so each round is one try: the test is about the
            # durable timer between rounds, not the activity's own (real-time) retries.
            raise ApplicationError(
                "slack: service_unavailable", type="SlackDown", non_retryable=True
            )
        self.answered += 1


def fraud(invoice: str) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={"name": "Globex", "stripe_customer_id": "cus_1"},
        message="Your card was declined.",
        facts={"decline_code": "fraudulent"},
    )


def test_the_retry_delay_doubles_from_a_minute_to_half_an_hour() -> None:
    delays = [alert_retry_delay(n).total_seconds() / 60 for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


@pytest.mark.asyncio
async def test_an_alert_slack_refused_is_posted_once_when_slack_is_back(
    skip_env: WorkflowEnvironment,
) -> None:
    # Slack is down for about ten minutes: the alert at once and its retries after 1, 2 and
    # 4 minutes are refused; the next, 15 minutes in, is taken.
    fake = SlackDown(refusals=4)
    queue = f"alert-retry-{uuid.uuid4().hex[:6]}"
    invoice = f"in_{uuid.uuid4().hex[:12]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=fraud(invoice), config=RemediationConfig(search_attributes=False)
            ),
            id=f"payment_failed:invoice:{invoice}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(hours=1))
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        await handle.terminate("test over")
    kinds = [e.kind for e in status.timeline]
    failed = [e for e in status.timeline if e.kind == "slack_failed"]
    assert len(failed) == 4 and all("tried again at" in e.text for e in failed)
    assert kinds.count("notified") == 1 and kinds.index("notified") > kinds.index("slack_failed")
    assert status.slack is not None
    alerts = [p for p in fake.posts if p.metadata_key and p.metadata_key.endswith("/alert")]
    assert fake.answered >= 1 and fake.refusals == 0
    # Every try of the alert carries the same key; from the second on it looks for an earlier
    # post first, so an alert Slack took but did not confirm is not posted twice.
    assert len({p.metadata_key for p in alerts}) == 1
    assert len(alerts) == 5 and all(p.look_first for p in alerts[1:])
    # Each looks back to when the remediation began, however long Slack was down.
    assert len({p.look_since for p in alerts}) == 1
    assert alerts[0].look_since is not None and alerts[0].look_since <= status.started_at
    notified = next(e for e in status.timeline if e.kind == "notified")
    assert notified.at - status.started_at >= timedelta(minutes=14)
