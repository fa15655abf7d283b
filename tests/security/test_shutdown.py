"""A worker told to stop (SIGTERM: a deploy, `docker stop`) drains: the payment retry it is
making finishes and is reported once, instead of dying mid-call and being made again by the
next worker."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import eventually
from tests.processes import canary_worker, worker_env
from tests.stack import live_stack
from tests.workflow.test_fault_processes import (
    all_awaiting_people,
    failed_invoices,
    fault,
    give_working_card,
    retry_as_operator,
)
from workflows import remediation_id

pytestmark = pytest.mark.timeout(180)


async def test_sigterm_drains_a_worker_mid_payment_retry(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    async with live_stack(dev_env.client, worker=False, step_timeout_seconds=20.0) as live:
        log = tmp_path / "worker.log"
        worker = canary_worker(worker_env(live, address), log).start()
        try:
            made = await asyncio.to_thread(failed_invoices, live.stripe, 1, uuid.uuid4().hex[:6])
            invoice, customer = next(iter(made.items()))
            workflow_id = remediation_id("payment_failed", "invoice", invoice)
            await eventually(lambda: all_awaiting_people(live, [workflow_id]), bool, timeout=60)

            # The payer fixes the card; an operator retries; Stripe charges and holds its
            # answer for 4 s, and the worker is told to stop while it waits.
            await asyncio.to_thread(give_working_card, live.stripe, customer)
            await fault(
                live,
                service="stripe",
                method="POST",
                path=f"/v1/invoices/{invoice}/pay",
                passthrough=True,
                respond_after=4.0,
                times=1,
            )
            retry = asyncio.create_task(retry_as_operator(live.client, workflow_id))
            await eventually(
                lambda: live.requests(
                    service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay"
                ),
                lambda found: len(found) >= 2,  # the decline, then the retry
                timeout=60,
                interval=0.05,
            )
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGTERM)
            exited = await asyncio.to_thread(worker.proc.wait, 30)
            assert exited == 0, worker.output()[-2000:]
            assert "draining" in worker.output()

            # The drained activity's result reached Temporal: the next worker goes on from it.
            worker.start()
            result = await asyncio.wait_for(retry, timeout=60)
            assert result.accepted, result.message
        finally:
            worker.stop()

        pays = [
            p
            for p in await live.requests(
                service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay"
            )
            if (p["idempotency_key"] or "").startswith(f"canary/{workflow_id}/")
        ]
        # One call: the retry finished on the stopping worker and was not made again.
        assert len(pays) == 1, pays
        assert live.stripe.v1.invoices.retrieve(invoice).status == "paid"
