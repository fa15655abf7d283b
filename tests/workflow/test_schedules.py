"""`canary schedules apply` on a real dev server: created once, idempotent, updates in place
keeping a pause, prunes on request; `canary schedules list` shows them."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from canary import search_attributes as sa
from canary.catalog import load_catalog
from canary.models.detectors import DetectorRunInput
from canary.rules.catalog import load_detectors
from canary.settings import Settings
from starter.schedules import apply_schedules, list_schedules, schedule_id
from tests.helpers import eventually

pytestmark = pytest.mark.asyncio
CATALOG = load_detectors(sops=load_catalog())


async def test_apply_is_idempotent_and_keeps_pauses(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    settings = Settings(task_queue=f"schedules-{uuid.uuid4().hex[:6]}")
    detectors = CATALOG.detectors
    ids = sorted(schedule_id(d.id) for d in detectors)
    try:
        first = await apply_schedules(client, settings, detectors, CATALOG.version)
        assert sorted(a.schedule_id for a in first) == ids
        assert {a.action for a in first} == {"created"}

        listed = await eventually(
            lambda: list_schedules(client), lambda found: len(found) == len(ids)
        )
        assert [s.schedule_id for s in listed] == ids
        irate = next(s for s in listed if s.detector_id == "irate-customer")
        assert irate.timing == "every 0:15:00" and not irate.paused
        onboarding = next(s for s in listed if s.detector_id == "onboarding-overdue")
        assert onboarding.timing == "cron 0 6 * * *" and onboarding.next_runs
        assert onboarding.next_runs[0].hour == 6 and onboarding.next_runs[0].minute == 0

        # The schedule starts the detector workflow with the detector's spec as its input.
        described = await client.get_schedule_handle(schedule_id("spend-shift")).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "DetectorWorkflow" and action.task_queue == settings.task_queue
        run_input = client.data_converter.payload_converter.from_payloads(
            list(action.args), [DetectorRunInput]
        )[0]
        assert run_input.detector.id == "spend-shift"
        # Its runs carry their kind, which the Temporal UI filters on (remediations are apart).
        assert action.typed_search_attributes.get(sa.KIND) == sa.DETECTOR

        # Applying again changes nothing.
        second = await apply_schedules(client, settings, detectors, CATALOG.version)
        assert {a.action for a in second} == {"unchanged"}
        assert [s.schedule_id for s in await list_schedules(client)] == ids

        # Schedules made before their runs carried a kind are brought up to date.
        unlabelled = await apply_schedules(
            client, settings, detectors, CATALOG.version, search_attributes=False
        )
        assert {a.action for a in unlabelled} == {"updated"}
        relabelled = await apply_schedules(client, settings, detectors, CATALOG.version)
        assert {a.action for a in relabelled} == {"updated"}
        again = (await client.get_schedule_handle(schedule_id("spend-shift")).describe()).schedule
        assert isinstance(again.action, ScheduleActionStartWorkflow)
        assert again.action.typed_search_attributes.get(sa.KIND) == sa.DETECTOR

        # Someone pauses one in the UI; a threshold changes in the catalog.
        await client.get_schedule_handle(schedule_id("spend-shift")).pause(note="quarter close")
        changed = [
            d.model_copy(update={"stddevs": 3.0}) if d.id == "spend-shift" else d for d in detectors
        ]
        third = {a.schedule_id: a.action for a in await apply_schedules(client, settings, changed)}
        assert third.pop(schedule_id("spend-shift")) == "updated"
        assert set(third.values()) == {"unchanged"}
        after = await client.get_schedule_handle(schedule_id("spend-shift")).describe()
        assert after.schedule.state.paused and after.schedule.state.note == "quarter close"
        updated = after.schedule.action
        assert isinstance(updated, ScheduleActionStartWorkflow)
        spec = client.data_converter.payload_converter.from_payloads(
            list(updated.args), [DetectorRunInput]
        )[0]
        assert spec.detector.stddevs == 3.0

        # Pruning removes the schedules of detectors the catalog dropped.
        kept = [d for d in changed if d.id != "calls-resolved-per-minute"]
        pruned = await apply_schedules(client, settings, kept, prune=True)
        assert [a.schedule_id for a in pruned if a.action == "deleted"] == [
            schedule_id("calls-resolved-per-minute")
        ]
        await eventually(lambda: list_schedules(client), lambda found: len(found) == len(ids) - 1)
    finally:
        for sid in ids:
            try:
                await client.get_schedule_handle(sid).delete()
            except Exception:  # noqa: BLE001 - already pruned
                pass
