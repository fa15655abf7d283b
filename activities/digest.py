"""The owner's daily digest: add a finding to it (starting it when none runs) and tell which
of its remediations are still open. Both talk to Temporal itself; the digest's one Slack
message is posted by ``canary.post_slack``."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.services import Services
from canary import search_attributes as sa
from canary.models import OPEN_STATES, RemediationStatus
from canary.models.detectors import (
    DigestAddInput,
    DigestAddOutput,
    DigestStatesInput,
    DigestStatesOutput,
)


def digest_id(owner: str) -> str:
    """One digest workflow per owner: ``digest:alice@acme-gtm.example``."""
    return f"digest:{owner.strip().lower()}"[:200]


class DigestActivities:
    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn(name="canary.digest_add")
    async def digest_add(self, request: DigestAddInput) -> DigestAddOutput:
        """Add an item to its owner's digest, starting the digest if none is running."""
        # Imported here: the workflows import the activity classes to call them by reference.
        from workflows.digest import DigestWorkflow

        workflow_id = digest_id(request.digest.owner)
        client = self.services.require_temporal()
        await client.start_workflow(
            DigestWorkflow.run,
            request.digest,
            id=workflow_id,
            task_queue=activity.info().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="add",
            start_signal_args=[request.item],
            search_attributes=await self._digest_attributes(),
            static_summary=f"Daily digest for {request.digest.owner}"[:200],
        )
        return DigestAddOutput(digest_id=workflow_id)

    async def _digest_attributes(self) -> TypedSearchAttributes | None:
        """The digest's kind, for the Temporal UI's filters, when the remediation adding to it
        carries Canary's search attributes (where they are not registered, a start naming one
        would fail, and a digest matters more than its label)."""
        info = activity.info()
        handle = self.services.require_temporal().get_workflow_handle(
            info.workflow_id or "", run_id=info.workflow_run_id
        )
        try:
            labelled = sa.KIND in (await handle.describe()).typed_search_attributes
        except RPCError:
            return None
        if not labelled:
            return None
        return TypedSearchAttributes([SearchAttributePair(sa.KIND, sa.DIGEST)])

    @activity.defn(name="canary.digest_states")
    async def digest_states(self, request: DigestStatesInput) -> DigestStatesOutput:
        """Which remediations are still open (a cooling-down one runs but is closed)."""
        from workflows import RemediationWorkflow

        client = self.services.require_temporal()
        found: dict[str, str] = {}
        for workflow_id in request.workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            try:
                description = await handle.describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    continue
                status: RemediationStatus = await handle.query(RemediationWorkflow.status)
            except RPCError as err:
                if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    continue
                raise
            if status.state in OPEN_STATES:
                found[workflow_id] = status.headline
        return DigestStatesOutput(open=found)
