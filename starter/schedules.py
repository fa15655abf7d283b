"""Detectors on Temporal Schedules: apply them from the catalog, list them, run them once.

``apply_schedules`` is idempotent: a schedule whose detector did not change is left alone, a
changed one is updated in place (keeping a pause someone set in the Temporal UI), a new one
is created. ``run_detectors_once`` runs every detector right now and waits for the results;
with ``flush_digests`` it also posts the owners' digests at once (the demo uses that, so the
findings show up without waiting for tomorrow morning).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from canary import search_attributes as sa
from canary.catalog import cached_catalog
from canary.models import RemediationStatus
from canary.models.detectors import (
    DetectorRunInput,
    DetectorRunResult,
    DetectorSpec,
    DigestFlushResult,
)
from canary.rules.catalog import load_detectors
from canary.settings import Settings
from starter.intake import get_status
from starter.updates import execute_update_when_ready, workflow_not_ready
from workflows import DetectorWorkflow, DigestWorkflow

SCHEDULE_PREFIX = "canary-detector-"
HASH_MEMO = "canary_spec_hash"
# The server turns cron expressions into calendar specs; the memo keeps what the catalog said.
TIMING_MEMO = "canary_timing"
# A detector run that has not finished in this long is stuck; the schedule's next run retries.
RUN_TIMEOUT = timedelta(minutes=15)


def schedule_id(detector_id: str) -> str:
    return f"{SCHEDULE_PREFIX}{detector_id}"


def _run_input(spec: DetectorSpec, catalog_version: str, search_attributes: bool) -> Any:
    return DetectorRunInput(
        detector=spec, catalog_version=catalog_version, search_attributes=search_attributes
    )


def _timing(spec: DetectorSpec) -> str:
    if spec.schedule.every is not None:
        return f"every {spec.schedule.every}"
    return "cron " + "; ".join(spec.schedule.cron)


def _memo(client: Client, action: Any, key: str) -> Any:
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return None
    payload = action.memo.get(key)
    if payload is None:
        return None
    return client.data_converter.payload_converter.from_payloads([payload])[0]


def _spec_hash(spec: DetectorSpec, settings: Settings, search_attributes: bool) -> str:
    # The task queue and the runs' search attributes are part of what a schedule does, so
    # moving queues or labelling its runs is a change too.
    body = spec.model_dump_json() + "|" + settings.task_queue
    if search_attributes:
        body += "|" + sa.KIND.name
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def detector_attributes(search_attributes: bool) -> TypedSearchAttributes | None:
    """A detector run's search attributes: its kind, for the Temporal UI's filters."""
    if not search_attributes:
        return None
    return TypedSearchAttributes([SearchAttributePair(sa.KIND, sa.DETECTOR)])


def _schedule(
    spec: DetectorSpec, settings: Settings, catalog_version: str, search_attributes: bool
) -> Schedule:
    if spec.schedule.every is not None:
        timing = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=spec.schedule.every)])
    else:
        timing = ScheduleSpec(cron_expressions=list(spec.schedule.cron))
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DetectorWorkflow.run,
            _run_input(spec, catalog_version, search_attributes),
            id=f"detector:{spec.id}",
            task_queue=settings.task_queue,
            execution_timeout=RUN_TIMEOUT,
            memo={
                HASH_MEMO: _spec_hash(spec, settings, search_attributes),
                TIMING_MEMO: _timing(spec),
            },
            typed_search_attributes=detector_attributes(search_attributes)
            or TypedSearchAttributes.empty,
            static_summary=f"Detector: {spec.title}"[:200],
        ),
        spec=timing,
        # One run at a time per detector: a slow run is never overlapped by the next one.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            paused=spec.schedule.paused or not spec.enabled,
            note=f"{spec.kind} → {spec.error_type}",
        ),
    )


@dataclass
class Applied:
    schedule_id: str
    action: Literal["created", "updated", "unchanged", "deleted"]


async def apply_schedules(
    client: Client,
    settings: Settings,
    detectors: Iterable[DetectorSpec] | None = None,
    catalog_version: str | None = None,
    prune: bool = False,
    search_attributes: bool = True,
) -> list[Applied]:
    """Create or update one schedule per detector (idempotent); with ``prune``, delete the
    detector schedules the catalog no longer has."""
    if detectors is None:
        catalog = load_detectors(settings.detectors_path, cached_catalog(settings.catalog_path))
        detectors, catalog_version = catalog.detectors, catalog.version
    wanted = list(detectors)
    version = catalog_version or ""
    results: list[Applied] = []
    for spec in wanted:
        sid = schedule_id(spec.id)
        desired = _schedule(spec, settings, version, search_attributes)
        try:
            await client.create_schedule(sid, desired)
            results.append(Applied(sid, "created"))
            continue
        except ScheduleAlreadyRunningError:
            pass
        handle = client.get_schedule_handle(sid)
        description = await handle.describe()
        wanted_hash = _spec_hash(spec, settings, search_attributes)
        if _memo(client, description.schedule.action, HASH_MEMO) == wanted_hash:
            results.append(Applied(sid, "unchanged"))
            continue

        def update(given: ScheduleUpdateInput, desired: Schedule = desired) -> ScheduleUpdate:
            # Keep the pause (and its note) a person set in the UI; apply changes the rest.
            state = given.description.schedule.state
            desired.state = ScheduleState(
                paused=state.paused or desired.state.paused, note=state.note or desired.state.note
            )
            return ScheduleUpdate(schedule=desired)

        await handle.update(update)
        results.append(Applied(sid, "updated"))
    if prune:
        keep = {schedule_id(s.id) for s in wanted}
        for listed in await list_schedules(client):
            if listed.schedule_id not in keep:
                await client.get_schedule_handle(listed.schedule_id).delete()
                results.append(Applied(listed.schedule_id, "deleted"))
    return results


@dataclass
class ListedSchedule:
    schedule_id: str
    detector_id: str
    paused: bool
    note: str | None
    timing: str
    next_runs: list[datetime]
    recent_runs: int


async def list_schedules(client: Client) -> list[ListedSchedule]:
    """Canary's detector schedules (by id prefix), sorted by id."""
    ids = sorted(
        [
            item.id
            async for item in await client.list_schedules()
            if item.id.startswith(SCHEDULE_PREFIX)
        ]
    )
    found: list[ListedSchedule] = []
    for sid in ids:
        try:
            description = await client.get_schedule_handle(sid).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue  # deleted since it was listed (visibility lags a little)
            raise
        schedule = description.schedule
        found.append(
            ListedSchedule(
                schedule_id=sid,
                detector_id=sid.removeprefix(SCHEDULE_PREFIX),
                paused=schedule.state.paused,
                note=schedule.state.note,
                timing=str(_memo(client, schedule.action, TIMING_MEMO) or "?"),
                next_runs=list(description.info.next_action_times),
                recent_runs=len(description.info.recent_actions),
            )
        )
    return found


async def run_detectors_once(
    client: Client,
    settings: Settings,
    detectors: Iterable[DetectorSpec] | None = None,
    *,
    flush_digests: bool = False,
    search_attributes: bool = True,
    as_of: datetime | None = None,
    timeout: float = 120.0,
) -> list[DetectorRunResult]:
    """Run every (enabled) detector now, concurrently, and return what each found."""
    version = ""
    if detectors is None:
        catalog = load_detectors(settings.detectors_path, cached_catalog(settings.catalog_path))
        detectors, version = catalog.detectors, catalog.version
    wanted = [d for d in detectors if d.enabled]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    runs = [
        client.execute_workflow(
            DetectorWorkflow.run,
            DetectorRunInput(
                detector=spec,
                catalog_version=version,
                search_attributes=search_attributes,
                as_of=as_of,
            ),
            id=f"detector:{spec.id}:once:{stamp}:{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            execution_timeout=RUN_TIMEOUT,
            search_attributes=detector_attributes(search_attributes),
            static_summary=f"Detector (run once): {spec.title}"[:200],
        )
        for spec in wanted
    ]
    results: list[DetectorRunResult] = list(await asyncio.gather(*runs))
    if flush_digests:
        raised = sorted({wid for r in results for wid in r.workflow_ids})
        await flush_digests_of(client, raised, timeout=timeout)
    return results


async def _notified(client: Client, workflow_id: str, timeout: float) -> RemediationStatus | None:
    """Wait until the remediation has alerted, joined a digest or closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await get_status(client, workflow_id)
        if status is not None:
            kinds = {e.kind for e in status.timeline}
            if kinds & {"digested", "notified", "closed", "digest_failed"}:
                return status
        if loop.time() > deadline:
            return status
        await asyncio.sleep(0.25)


async def flush_digests_of(
    client: Client, workflow_ids: list[str], timeout: float = 120.0
) -> dict[str, DigestFlushResult]:
    """Post now the digests these remediations joined (each once), instead of at the hour."""
    statuses = await asyncio.gather(*(_notified(client, w, timeout) for w in workflow_ids))
    digests = sorted(
        {
            str(e.data["digest_id"])
            for status in statuses
            if status is not None
            for e in status.timeline
            if e.kind == "digested" and e.data.get("digest_id")
        }
    )
    flushed: dict[str, DigestFlushResult] = {}
    for digest in digests:
        handle = client.get_workflow_handle(digest)
        try:
            flushed[digest] = await execute_update_when_ready(handle, DigestWorkflow.flush)
        except RPCError as err:
            # Already flushed and finished (another run got there first): nothing waits.
            # Still failing its task after the waits: not flushed, and the caller hears why.
            if workflow_not_ready(err) or err.status not in (
                RPCStatusCode.NOT_FOUND,
                RPCStatusCode.FAILED_PRECONDITION,
            ):
                raise
    return flushed
