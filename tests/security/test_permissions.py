"""Issue 14, finding 4: who may press a button fails closed.

Each test clicks the way an outsider would try it: a stranger in the channel presses Dismiss on
a suspected-fraud payment, an SOP author forgets ``allowed``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.catalog import load_catalog
from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from canary.models.sop import HumanAction
from tests.fakes import FakeServices
from workflows import RemediationWorkflow

STRANGER = "U0MALLORY"
#: Buttons that change a record, move money or close a remediation: never open to anyone.
NEVER_OPEN = {"dismiss", "approve", "retry", "link", "create_account", "resolve", "schedule"}


def fraud_detection() -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={"name": "Globex", "stripe_customer_id": "cus_1"},
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": "fraudulent"},
    )


# -- the catalog fails closed ---------------------------------------------------------------


def every_action() -> list[tuple[str, HumanAction]]:
    return [(sop.type, a) for sop in load_catalog().sops for a in sop.every_action()]


def test_no_default_button_that_changes_something_is_open_to_anyone() -> None:
    open_to_anyone = [(t, a.id) for t, a in every_action() if a.allowed.anyone]
    assert not [(t, i) for t, i in open_to_anyone if i in NEVER_OPEN]
    # The one open button only brings the escalation team in (its YAML comment says why).
    assert open_to_anyone == [("irate_customer", "escalate")]


def test_a_fraud_suspected_payments_dismiss_is_for_the_owner_and_the_sops_groups() -> None:
    sop = load_catalog().get("payment_failed")
    assert sop is not None
    fraud = next(b for b in sop.branches if b.id == "fraud_suspected")
    dismiss = next(a for a in fraud.actions or [] if a.id == "dismiss")
    assert not dismiss.allowed.anyone
    assert dismiss.allowed.owner and dismiss.allowed.groups == sop.groups == ["revops", "finance"]


def test_a_catalog_action_without_allowed_is_not_open_to_anyone(tmp_path: Path) -> None:
    """An SOP author leaves 'allowed' out: the button is for the owner and the SOP's groups,
    resolved when the catalog loads, so the pinned diagnosis carries it."""
    catalog = yaml.safe_load(Path(load_catalog.__globals__["DEFAULT_CATALOG"]).read_text())
    sop = {
        "type": "forgot_permissions",
        "title": "An SOP whose author forgot who may press",
        "groups": ["finance"],
        "message": {"headline": "h", "what_happened": "w", "what_to_do": "d"},
        "branches": [
            {"id": "b", "title": "b", "actions": [{"id": "approve", "label": "Approve"}]}
        ],
        "actions": [{"id": "dismiss", "label": "Dismiss", "closes_as": "dismissed"}],
    }
    catalog["sops"].append(sop)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    loaded = load_catalog(path).get("forgot_permissions")
    assert loaded is not None
    for action in loaded.every_action():
        assert not action.allowed.anyone
        assert action.allowed.owner and action.allowed.groups == ["finance"]
        assert action.allowed.describe() == "the owner, members of @finance or Canary admins"
    # A lone action (no SOP around it) is for the owner and admins.
    lone = HumanAction(id="dismiss", label="Dismiss")
    assert not lone.allowed.anyone and lone.allowed.owner and lone.allowed.groups == []


# -- a stranger's click ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_strangers_dismiss_on_a_fraud_suspected_payment_is_refused(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = fraud_detection()
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=f"test:{detection.subject.id}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(seconds=5))
        refused = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="dismiss", user=STRANGER)
        )
        assert not refused.accepted and refused.outcome is None
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert not status.outcome and status.state != "dismissed"
        refusal = [e for e in status.timeline if e.kind == "action_refused"]
        assert len(refusal) == 1 and refusal[0].actor == STRANGER
        assert "the owner, members of @finance, members of @revops" not in refused.message
        assert "the owner" in refused.message and "@finance" in refused.message
        # The owner Stripe names may.
        owned = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="dismiss", user="U0ALICE")
        )
        assert owned.accepted and owned.outcome == "dismissed"
