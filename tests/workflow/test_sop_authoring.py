"""The SOP authoring reference's worked example: an SOP added with no Python change.

docs/examples/catalog/ is the default catalog plus subscription_canceled.yaml; docs/sops.md
shows that file and the detection beside it verbatim (checked here), and the end-to-end test
runs them the way a user would: CANARY_CATALOG names the folder, the detection goes to the
gateway's API, and Temporal, the sandbox's Stripe and Slack, and a worker do the rest.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from temporalio.testing import WorkflowEnvironment

from canary.catalog import DEFAULT_CATALOG, CatalogError, diagnose, load_catalog, plan
from canary.models import ActionRequest, Detection
from canary.models.sop import (
    Alerting,
    Branch,
    Catalog,
    Check,
    EscalationStep,
    HumanAction,
    LinkTemplate,
    Message,
    Permission,
    Resolution,
    Rule,
    Sop,
    Step,
)
from starter.intake import get_status
from tests.helpers import eventually
from tests.stack import API_TOKEN, live_stack
from tests.workflow.test_end_to_end import alert_for, has_buttons
from workflows import RemediationWorkflow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "sops.md"
EXAMPLE_CATALOG = ROOT / "docs" / "examples" / "catalog"
EXAMPLE_SOP = EXAMPLE_CATALOG / "subscription_canceled.yaml"
EXAMPLE_DETECTION = ROOT / "docs" / "examples" / "subscription_canceled.json"


def example_detection(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(EXAMPLE_DETECTION.read_text())
    return {**body, **changes}


def test_the_guide_shows_the_tested_files() -> None:
    guide = GUIDE.read_text()
    assert f"```yaml\n{EXAMPLE_SOP.read_text()}```\n" in guide
    assert f"```json\n{EXAMPLE_DETECTION.read_text()}```\n" in guide


def test_the_guide_has_every_field_of_the_schema() -> None:
    guide = GUIDE.read_text()
    tables: list[type[BaseModel]] = [
        Catalog,
        Sop,
        Message,
        Branch,
        Step,
        HumanAction,
        Permission,
        LinkTemplate,
        EscalationStep,
        Resolution,
        Alerting,
        Check,
    ]
    for model in tables:
        for name, field in model.model_fields.items():
            assert f"\n| `{field.alias or name}` |" in guide, f"{model.__name__}.{name}"
    rules = guide[guide.index("\n### Rules\n") :]
    for name, field in Rule.model_fields.items():
        assert f"{field.alias or name}:" in rules, f"Rule.{name}"


def test_the_example_folder_is_the_default_catalog_plus_the_new_sop() -> None:
    default = load_catalog()
    catalog = load_catalog(EXAMPLE_CATALOG)
    assert catalog.version == f"{default.version}+subscription-canceled.1"
    assert [s.type for s in catalog.sops] == [s.type for s in default.sops] + [
        "subscription_canceled"
    ]


def test_the_example_diagnoses_offline() -> None:
    """Pure diagnosis (no lookups): the type given, the match rule, each branch."""
    catalog = load_catalog(EXAMPLE_CATALOG)
    named = Detection.model_validate(example_detection())
    found = diagnose(named, plan(named, catalog), catalog)
    assert (found.error_type, found.branch, found.severity) == (
        "subscription_canceled",
        "customer_requested",
        "high",
    )
    assert [s.action for s in found.automated] == ["slack.notify_channel"]
    assert [a.id for a in found.actions] == ["acknowledge", "snooze", "dismiss", "note"]

    unnamed = Detection.model_validate(example_detection(type=None))
    planned = plan(unnamed, catalog)
    assert planned.error_type == "subscription_canceled"
    assert planned.steps[-1].id == "match:subscription_canceled" and planned.steps[-1].matched

    facts = {**example_detection()["facts"], "cancellation_reason": "payment_failed"}
    lapsed = Detection.model_validate(example_detection(facts=facts))
    found = diagnose(lapsed, plan(lapsed, catalog), catalog)
    assert (found.branch, found.severity, found.automated) == ("payment_failed", "medium", [])

    # Without the example's file the same detection is the general error.
    assert plan(named, load_catalog()).error_type == "unknown"


def test_a_broken_catalog_is_refused_as_the_guide_quotes(tmp_path: Path) -> None:
    """The guide's quoted error is what the loader says about a misspelt action and key."""
    folder = tmp_path / "my-catalog"
    folder.mkdir()
    shutil.copy(DEFAULT_CATALOG, folder / "default.yaml")
    broken = (
        EXAMPLE_SOP.read_text()
        .replace("action: slack.notify_channel", "action: slack.notify_csm")
        .replace("\n    escalation:", "\n    escalaton:")
    )
    (folder / "subscription_canceled.yaml").write_text(broken)
    with pytest.raises(CatalogError) as refused:
        load_catalog(folder)
    assert str(refused.value).startswith(f"{folder}: invalid SOP catalog:\n")
    cause = refused.value.__cause__
    assert isinstance(cause, ValidationError)
    guide = GUIDE.read_text()
    where = [".".join(str(part) for part in error["loc"]) for error in cause.errors()]
    assert where == ["sops.14.branches.1.steps.0", "sops.14.escalaton"]
    for error, location in zip(cause.errors(), where, strict=True):
        assert f"\n{location}\n  {error['msg']} [type={error['type']}" in guide


async def test_subscription_canceled_end_to_end_through_canary_catalog(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_CATALOG", str(EXAMPLE_CATALOG))
    async with live_stack(dev_env.client) as stack:
        assert stack.settings.catalog_path == str(EXAMPLE_CATALOG)
        subscription = f"sub_{uuid.uuid4().hex[:14]}"
        response = await stack.http.post(
            f"{stack.gateway_url}/api/detections",
            json=example_detection(
                id=f"evt_{uuid.uuid4().hex[:14]}",
                subject={"kind": "subscription", "id": subscription},
            ),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert response.status_code == 202, response.text
        workflow_id = response.json()["workflow_id"]
        assert workflow_id == f"subscription_canceled:subscription:{subscription}"

        status = await eventually(
            lambda: get_status(stack.client, workflow_id),
            lambda s: s is not None and s.state == "awaiting_human" and s.slack is not None,
            timeout=30,
        )
        assert status is not None and status.diagnosis is not None
        assert status.diagnosis.error_type == "subscription_canceled"
        assert status.diagnosis.branch == "customer_requested"
        version = load_catalog(EXAMPLE_CATALOG).version
        assert status.diagnosis.catalog_version == version
        diagnosed = next(e.text for e in status.timeline if e.kind == "diagnosed")
        assert diagnosed == (
            f"Diagnosed as subscription_canceled (The customer asked to cancel); catalog {version}"
        )
        assert status.owner == "alice@acme-gtm.example"  # from the Stripe customer's record

        # The branch's step told customer success.
        told = await eventually(
            lambda: stack.messages("#customer-success"),
            lambda ms: any(subscription in str(m) for m in ms),
        )
        assert any("Globex Corporation canceled subscription" in str(m) for m in told)

        # The alert: what happened, where to look, the owner, and an Acknowledge button.
        messages = await eventually(
            lambda: stack.messages("#gtm-alerts"),
            lambda ms: (found := alert_for(ms, workflow_id)) is not None and has_buttons(found),
        )
        alert = alert_for(messages, workflow_id)
        assert alert is not None
        text = str(alert["blocks"])
        assert "Subscription canceled: Globex Corporation — Enterprise (annual)" in text
        assert "<@U0ALICE>" in text
        assert f"/subscriptions/{subscription}" in text and "/customers/cus_SbxGlobex000001" in text
        assert "/lightning/r/Account/" in text
        buttons = [e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
            ("canary:acknowledge", "Acknowledge"),
            ("canary:snooze", "Snooze 1 day"),
            ("canary:dismiss", "Dismiss"),
            ("canary:note", "Add a note"),
        ]
        assert all(b["value"] == workflow_id for b in buttons)

        # Acknowledge, as the SOP allows: not Bob (a sales manager), but Carol (the CSM, in
        # @customer-success) closes it as resolved by a person.
        handle = dev_env.client.get_workflow_handle(workflow_id)
        refused = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="acknowledge", user="U0BOB")
        )
        assert not refused.accepted and refused.outcome is None
        # Carol's click as the gateway sends it: her groups read from Slack as it arrived.
        done = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="acknowledge", user="U0CAROL", member_of=["customer-success"]),
        )
        assert done.accepted and done.outcome == "resolved_by_human"
        status = await eventually(
            lambda: get_status(stack.client, workflow_id),
            lambda s: s is not None and s.state == "resolved",
        )
        assert status is not None and status.outcome == "resolved_by_human"
        actors = [(e.kind, e.actor) for e in status.timeline]
        assert ("action_refused", "U0BOB") in actors and ("human_action", "U0CAROL") in actors

        final = await eventually(
            lambda: stack.messages("#gtm-alerts"),
            lambda ms: not has_buttons(alert_for(ms, workflow_id) or alert),
        )
        closed = alert_for(final, workflow_id)
        assert closed is not None
        assert "resolved by a person" in str(closed["blocks"]) and "<@U0CAROL>" in str(
            closed["blocks"]
        )
