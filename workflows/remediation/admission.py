"""What a person's action must pass before the remediation accepts it (the `act` update's
validator), and the answer it gives either way.

A refusal here leaves nothing in history. It reaches the caller as an ApplicationError of
type ``ActionRefused`` whose one detail is the ActionResult to show, so a caller needs no
second look at the remediation to say why. Two refusals are questions rather than a no: a
button whose action asks first gets its form (``ActionResult.form``), and a click that only
a group could allow gets the groups to read (``ActionResult.groups_to_read``); the gateway
answers them and sends the update again.

Where a click came from is checked here, in the same workflow task as the action, against
the messages the remediation posted itself: a click replayed onto another message is refused
however the gateway read it.
"""

from __future__ import annotations

from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from canary.blocks import closed_phrase, human_duration
    from canary.models import ActionRequest, ActionResult, FormAsk

from workflows.policies import MAX_SNOOZE
from workflows.remediation.context import Remediation

#: The ApplicationError type of a refused action; its detail is the ActionResult.
ACTION_REFUSED = "ActionRefused"


def answer(r: Remediation, request: ActionRequest, accepted: bool, message: str) -> ActionResult:
    """The update's answer: what happened to the request, and where the remediation stands."""
    return ActionResult(
        accepted=accepted,
        action=request.action,
        state=r.state.state,
        outcome=r.state.outcome,
        message=message,
    )


def refuse(r: Remediation, request: ActionRequest, message: str, **asks: Any) -> NoReturn:
    result = answer(r, request, False, message).model_copy(update=asks)
    raise ApplicationError(message, result, type=ACTION_REFUSED, non_retryable=True)


def ended(r: Remediation) -> str:
    return closed_phrase(r.state.outcome, r.state.resolved_by)


def admit(r: Remediation, request: ActionRequest) -> None:
    """Return when the update may run; else raise its refusal (see the module's doc)."""
    state = r.state
    if state.closed:
        refuse(r, request, f"This remediation is already {ended(r)}.")
    if state.diagnosis is None:
        refuse(r, request, "Canary is still diagnosing this error; try again in a moment.")
    action = state.action(request.action)
    if action is None:
        offered = ", ".join(a.id for a in state.diagnosis.actions) or "none"
        refuse(r, request, f"Unknown action {request.action!r} here; offered: {offered}.")
    clicked = request.message
    if clicked is not None and not state.carries_buttons_in(clicked.channel, clicked.ts):
        refuse(
            r,
            request,
            f"Canary refused this click: the message (channel {clicked.channel}, ts "
            f"{clicked.ts}) is not one of {r.workflow_id}'s.",
        )
    if request.pressed and action.asks_in_a_form():
        form = FormAsk(action=action, headline=state.diagnosis.headline)
        refuse(r, request, f"{action.label} asks first.", form=form)
    if request.groups_unread and action.allowed.groups and not state.may_act(action, request):
        refuse(
            r,
            request,
            f"Only a group may let {request.user} press {action.label}: read it first.",
            groups_to_read=list(action.allowed.groups),
        )
    if action.reason_asked == "required" and not (request.reason or "").strip():
        choices = "; ".join(action.reasons)
        refuse(
            r,
            request,
            f"{action.label} needs a reason" + (f", such as: {choices}" if choices else "") + ".",
        )
    if action.id == "note" and not (request.note or "").strip():
        refuse(r, request, "A note needs some text.")
    if request.snooze_for is not None and request.snooze_for not in action.snooze_options:
        offered = ", ".join(human_duration(d) for d in action.snooze_options) or "none"
        refuse(r, request, f"{action.label} offers these lengths: {offered}.")
    if request.snooze_until is not None:
        if action.snooze_for is None:
            refuse(r, request, f"{action.label} does not snooze.")
        ahead = request.snooze_until - workflow.now()
        if ahead.total_seconds() <= 0:
            refuse(r, request, "A snooze ends in the future.")
        if ahead > MAX_SNOOZE:
            refuse(r, request, f"A snooze lasts at most {human_duration(MAX_SNOOZE)}.")
