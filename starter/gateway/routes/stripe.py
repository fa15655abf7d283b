"""POST /webhooks/stripe: a signed Stripe event becomes a detection, or a signal that a payment
went through to the remediations waiting on it."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from canary.settings import MissingSettingError
from starter.gateway.deps import SettingsDep, TemporalDep, refused_as
from starter.intake import (
    route_card_update,
    route_payment_attempt,
    signal_external,
    submit_detection,
)
from starter.stripe_events import (
    card_change_from_event,
    detection_from_event,
    event_livemode,
    event_time,
    expected_livemode,
    mode_mismatch,
    needs_routing,
    resolution_from_event,
    stage_detection_from_event,
)

log = logging.getLogger("canary.gateway")
router = APIRouter(tags=["webhooks"])


class WebhookAnswer(BaseModel):
    received: bool = True
    action: str = Field(
        description="started_or_folded | routed (a payment intent's or charge's failure, "
        "joined to its invoice's remediation by the worker) | signalled | "
        "signalled_and_started | ignored"
    )
    workflow_ids: list[str] = Field(default_factory=list)
    detail: str = ""


async def signed_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The event, once its Stripe-Signature checks out against `STRIPE_WEBHOOK_SECRET`."""
    secret = settings.stripe_webhook_secret
    if not secret:
        raise HTTPException(
            503, str(MissingSettingError("STRIPE_WEBHOOK_SECRET", "to verify Stripe webhooks"))
        )
    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    if not signature:
        raise HTTPException(400, "missing Stripe-Signature header")
    try:
        # Verify the bytes first, then parse them ourselves: the SDK's construct_event
        # assumes a JSON object and would crash (a 500) on any other JSON value.
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", errors="replace"),
            signature,
            secret,
            stripe.Webhook.DEFAULT_TOLERANCE,
        )
    except stripe.SignatureVerificationError as exc:
        raise HTTPException(
            400, f"signature verification failed: {exc.user_message or exc}"
        ) from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise HTTPException(400, "not a Stripe event: expected an object with 'data'")
    return event


@router.post(
    "/webhooks/stripe",
    response_model=WebhookAnswer,
    responses={
        400: {"description": "unsigned, forged, stale or malformed"},
        503: {
            "description": "STRIPE_WEBHOOK_SECRET unset, or a live-mode event while "
            "STRIPE_LIVEMODE and STRIPE_API_KEY are both unset"
        },
    },
)
async def stripe_webhook(
    event: Annotated[dict[str, Any], Depends(signed_event)],
    client: TemporalDep,
    settings: SettingsDep,
) -> WebhookAnswer:
    try:
        expected = expected_livemode(settings)
        live = event_livemode(event)
        ignored = mode_mismatch(live, expected)
    except ValueError as exc:
        raise HTTPException(400, f"not a Stripe event Canary can read: {exc}"[:500]) from exc
    if expected is None and live:
        # Nothing says this Canary is the live one: Stripe keeps the event (it retries a 503
        # for days) until STRIPE_LIVEMODE says which mode to act on.
        log.error(
            "stripe %s %s refused: a live mode event, and STRIPE_LIVEMODE is not set",
            event.get("type"),
            event.get("id"),
        )
        raise HTTPException(
            503, str(MissingSettingError("STRIPE_LIVEMODE", "to act on live-mode Stripe events"))
        )
    if ignored is not None:
        # Acknowledged (a 2xx, or Stripe retries it for days) and left alone.
        log.warning("stripe %s %s ignored: %s", event.get("type"), event.get("id"), ignored)
        return WebhookAnswer(action="ignored", detail=f"Canary ignored {ignored}")
    try:
        detection = detection_from_event(event)
        resolution = resolution_from_event(event) if detection is None else None
        stage = stage_detection_from_event(event) if resolution is not None else None
    except (ValueError, TypeError, AttributeError) as exc:
        # Fields of the wrong shape or size (pydantic's ValidationError is a ValueError).
        raise HTTPException(400, f"not a Stripe event Canary can read: {exc}"[:500]) from exc

    if detection is not None and needs_routing(detection):
        # Which remediation it belongs to takes a Stripe lookup: the worker routes it.
        async with refused_as(400):
            routing = await route_payment_attempt(
                client, detection, settings, signed_by_stripe=True
            )
        log.info("stripe %s %s → %s", event.get("type"), event.get("id"), routing)
        return WebhookAnswer(action="routed", workflow_ids=[routing])
    if detection is not None:
        async with refused_as(400):
            submitted = await submit_detection(client, detection, settings, signed_by_stripe=True)
        log.info("stripe %s %s → %s", event.get("type"), event.get("id"), submitted.workflow_id)
        return WebhookAnswer(action="started_or_folded", workflow_ids=[submitted.workflow_id])
    if resolution is not None:
        targets, external = resolution
        async with refused_as(400):
            signalled = [wid for wid in targets if await signal_external(client, wid, external)]
            started: list[str] = []
            if stage is not None:
                # Paid for a deal: its opportunity should be Closed Won. The remediation
                # verifies that in Salesforce and closes quietly when it already is.
                stage_id = (
                    await submit_detection(client, stage, settings, signed_by_stripe=True)
                ).workflow_id
                started.append(stage_id)
        if started:
            return WebhookAnswer(action="signalled_and_started", workflow_ids=signalled + started)
        return WebhookAnswer(
            action="signalled" if signalled else "ignored",
            workflow_ids=signalled,
            detail="" if signalled else "no open remediation for this payment",
        )
    if (card := card_change_from_event(event)) is not None:
        # A new card: the worker tells the customer's failed payments, which retry on it.
        async with refused_as(400):
            routing = await route_card_update(
                client,
                card.customer_id,
                event.get("id"),
                settings,
                occurred_at=event_time(event),
                payment_method_id=card.payment_method_id,
            )
        log.info("stripe %s %s → %s", event.get("type"), event.get("id"), routing)
        return WebhookAnswer(action="routed", workflow_ids=[routing])
    # Stripe retries non-2xx for days; an event Canary does not handle is acknowledged.
    return WebhookAnswer(action="ignored", detail=f"Canary does not act on {event.get('type')}")
