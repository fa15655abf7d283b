"""Ways into Temporal shared by the gateway and the CLI: submit, signal, act, look up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from canary import search_attributes as sa
from canary.blocks import closed_phrase
from canary.catalog import cached_catalog, plan
from canary.metrics import metrics
from canary.models import (
    ActionRequest,
    ActionResult,
    CardUpdateInput,
    Detection,
    ExternalEvent,
    PaymentAttemptInput,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from canary.settings import Settings
from starter.updates import execute_update_when_ready, workflow_not_ready
from workflows import (
    CardUpdateWorkflow,
    PaymentAttemptWorkflow,
    RemediationWorkflow,
    remediation_id,
)
from workflows.remediation.admission import ACTION_REFUSED


@dataclass
class Submitted:
    workflow_id: str
    error_type: str
    run_id: str | None


def remediation_config(settings: Settings, search_attributes: bool = True) -> RemediationConfig:
    return RemediationConfig(
        alert_channel=settings.alert_channel,
        escalation_channel=settings.escalation_channel,
        temporal_ui_url=settings.temporal_ui_url,
        namespace=settings.temporal_namespace,
        admins=list(settings.admins),
        search_attributes=search_attributes,
        ids_only_in_search=bool(settings.payload_keys),
        digest_hour_utc=settings.digest_hour_utc,
        step_timeout_seconds=settings.step_timeout_seconds,
    )


def workflow_id_for(detection: Detection, settings: Settings) -> tuple[str, str]:
    """The error type decides the id, so classify here exactly as the workflow will."""
    error_type = plan(detection, cached_catalog(settings.catalog_path)).error_type
    return remediation_id(error_type, detection.subject.kind, detection.subject.id), error_type


async def route_payment_attempt(
    client: Client,
    detection: Detection,
    settings: Settings,
    search_attributes: bool = True,
    signed_by_stripe: bool = False,
) -> str:
    """Hand a payment intent's or charge's failure to the worker, which finds the invoice it
    was paying and folds it into that remediation (``PaymentAttemptWorkflow``); the id of the
    workflow that routes it. One per attempt: the charge's and the payment intent's failures
    of one attempt share it, and a redelivery joins the one running."""
    handle = await client.start_workflow(
        PaymentAttemptWorkflow.run,
        PaymentAttemptInput(detection=detection, signed_by_stripe=signed_by_stripe),
        id=f"payment-attempt:{detection.id}",
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.KIND, sa.PAYMENT_ATTEMPT)])
        if search_attributes
        else None,
        static_summary=f"payment attempt {detection.id} on {detection.subject.kind} "
        f"{detection.subject.id}"[:200],
    )
    return handle.id


async def route_card_update(
    client: Client,
    customer_id: str,
    event_id: str | None,
    settings: Settings,
    search_attributes: bool = True,
    occurred_at: datetime | None = None,
    payment_method_id: str | None = None,
) -> str:
    """Hand a customer's new card to the worker, which tells the remediations of their open
    invoices (``CardUpdateWorkflow``); the id of the workflow that does. One per event."""
    handle = await client.start_workflow(
        CardUpdateWorkflow.run,
        CardUpdateInput(
            customer_id=customer_id,
            event_id=event_id,
            occurred_at=occurred_at,
            payment_method_id=payment_method_id,
        ),
        id=f"card-update:{event_id or customer_id}",
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.KIND, sa.CARD_UPDATE)])
        if search_attributes
        else None,
        static_summary=f"new card for {customer_id}"[:200],
    )
    return handle.id


async def submit_detection(
    client: Client,
    detection: Detection,
    settings: Settings,
    search_attributes: bool = True,
    owner_email: str | None = None,
    signed_by_stripe: bool = False,
    manager_email: str | None = None,
    from_detector: bool = False,
) -> Submitted:
    """Start the subject's remediation, or fold this report into the open one.

    Signal-with-start is atomic: two deliveries of the same webhook racing each other still
    make one workflow, and the workflow ignores a report id it has already counted.

    ``owner_email`` and ``manager_email`` are people Canary looked up itself (its detectors
    read Salesforce); only ``canary.raise_detection`` passes them. People a report names are
    never trusted: the remediation finds the owner and manager in Salesforce or Stripe.
    ``signed_by_stripe`` is set only by the gateway's Stripe route, for a verified webhook;
    ``from_detector`` only by ``canary.raise_detection``, whose lookups' facts are trusted.
    """
    workflow_id, error_type = workflow_id_for(detection, settings)
    config = remediation_config(settings, search_attributes)
    attributes = None
    if search_attributes:
        pairs: list[SearchAttributePair[Any]] = [
            SearchAttributePair(sa.KIND, sa.REMEDIATION),
            SearchAttributePair(sa.ERROR_TYPE, error_type),
            SearchAttributePair(sa.STATE, "diagnosing"),
            SearchAttributePair(sa.SUBJECT, f"{detection.subject.kind}:{detection.subject.id}"),
            SearchAttributePair(sa.ESCALATION_LEVEL, 0),
        ]
        # What the report already names is searchable from the start, and the workflow's
        # first upsert (only what changed) has nothing left to write. With payloads
        # encrypted, the attributes (never encrypted) carry ids, not names or e-mails.
        private = config.ids_only_in_search
        account_key = detection.account.id_key() if private else detection.account.key()
        if account_key:
            pairs.append(SearchAttributePair(sa.ACCOUNT, account_key[:200]))
        if owner_email and not private:
            pairs.append(SearchAttributePair(sa.OWNER, owner_email))
        attributes = TypedSearchAttributes(pairs)
    account = detection.account.label()
    handle = await client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(
            detection=detection,
            config=config,
            owner_email=owner_email,
            signed_by_stripe=signed_by_stripe,
            manager_email=manager_email,
            from_canary_detector=from_detector,
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="occurrence",
        start_signal_args=[detection],
        search_attributes=attributes,
        static_summary=f"{error_type}: {detection.subject.kind} {detection.subject.id} — {account}"[
            :200
        ],
        static_details=(detection.message or "")[:2000] or None,
    )
    metrics().detection(error_type, detection.source)
    return Submitted(workflow_id=workflow_id, error_type=error_type, run_id=handle.result_run_id)


async def signal_external(client: Client, workflow_id: str, event: ExternalEvent) -> bool:
    """Tell an open remediation about an outside fact. False when there is none open."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.signal(RemediationWorkflow.external_event, event)
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return False
        raise
    return True


#: How long a status query waits for a worker to answer: a remediation whose worker is down
#: (or whose task queue nobody serves) must not hang a listing, a Home tab or a click.
STATUS_QUERY_TIMEOUT = timedelta(seconds=10)


async def get_status(
    client: Client, workflow_id: str, timeout: timedelta = STATUS_QUERY_TIMEOUT
) -> RemediationStatus | None:
    handle: WorkflowHandle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(RemediationWorkflow.status, rpc_timeout=timeout)
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


def _application_error(err: BaseException) -> ApplicationError | None:
    cause: BaseException | None = err.cause if isinstance(err, WorkflowUpdateFailedError) else err
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return cause


def _failure_message(err: BaseException) -> str:
    cause = _application_error(err)
    if cause is not None:
        return cause.message
    return str(err.cause if isinstance(err, WorkflowUpdateFailedError) else err)


def _refusal(err: WorkflowUpdateFailedError) -> ActionResult | None:
    """The answer a remediation's validator gave with its refusal (its detail), if any."""
    cause = _application_error(err)
    if cause is None or cause.type != ACTION_REFUSED or not cause.details:
        return None
    return ActionResult.model_validate(cause.details[0])


async def take_action(
    client: Client, workflow_id: str, request: ActionRequest, update_id: str | None = None
) -> ActionResult:
    """Run a person's action as a workflow update; a refusal comes back as ``accepted=False``
    with the reason, never as an exception the caller has to decode. The same ``update_id``
    again (one click delivered twice) gets the first one's answer and acts no more."""
    result = await _take_action(client, workflow_id, request, update_id)
    if not result.asks_more:  # a question (a form, groups to read) is not an answer yet
        metrics().action(request.action, request.source, result.accepted)
    return result


async def _take_action(
    client: Client, workflow_id: str, request: ActionRequest, update_id: str | None
) -> ActionResult:
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await execute_update_when_ready(
            handle, RemediationWorkflow.act, request, id=update_id
        )
    except WorkflowUpdateFailedError as err:
        if (refused := _refusal(err)) is not None:
            return refused
        status = await get_status(client, workflow_id)
        return ActionResult(
            accepted=False,
            action=request.action,
            state=status.state if status else "failed",
            outcome=status.outcome if status else None,
            message=_failure_message(err),
        )
    except RPCError as err:
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        if workflow_not_ready(err):
            return ActionResult(
                accepted=False,
                action=request.action,
                state="failed",
                message="This remediation cannot take actions right now: its worker keeps "
                "failing to run it (Temporal is retrying). Nothing was done; try again in a "
                "minute, and tell whoever runs Canary if it lasts.",
            )
        status = await get_status(client, workflow_id)
        if status is None:
            return ActionResult(
                accepted=False,
                action=request.action,
                state="failed",
                message=f"No remediation {workflow_id}.",
            )
        closer = next((e for e in reversed(status.timeline) if e.kind == "closed"), None)
        ended = closed_phrase(status.outcome, closer.actor if closer else None)
        return ActionResult(
            accepted=False,
            action=request.action,
            state=status.state,
            outcome=status.outcome,
            message=f"This remediation is already closed: {ended}.",
        )


async def is_open(client: Client, workflow_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING
