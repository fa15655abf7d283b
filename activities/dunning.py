"""The ``stripe.dunning_email`` step: one e-mail of the catalog's dunning sequence to the
invoice's payer.

Everything it needs is read from Stripe at send time, never from a report: the invoice (open
or not, its amount, number and hosted page), its customer (the address, the name, the
``do_not_contact`` flag) and a fresh billing-portal link. The address goes to the e-mail
adapter only; the timeline shows it masked.

Stripe keeps the ledger, on the invoice's metadata: ``canary_dunning_<email id>`` holds when
that e-mail was last sent and a hash of the attempt key that sent it. The step reads it first,
so a retried activity whose send went through does not send again, and a step with
``params.once_per_hours`` refuses a second send within that many hours (the "Send the payer the
link" button's once a day), whichever remediation, run or worker sent the first. The ledger is
written after the send; a send whose ledger write fails is reported, not retried, and should
the worker die between the two, the retried send carries the same Message-ID, so the payer's
mail client shows one message.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from temporalio.exceptions import ApplicationError

from activities.calls import call, idempotency_key
from activities.services import Services
from activities.stripe import invoice_id
from canary.adapters import PermanentError, TransientError, format_amount
from canary.adapters.email_adapter import message_id
from canary.catalog import cached_catalog
from canary.models import StepInput, StepOutput
from canary.recovery.dunning import mask_address, render_email

#: Invoice metadata key prefix of the ledger (Stripe keys are at most 40 characters; e-mail
#: ids at most 25).
LEDGER_PREFIX = "canary_dunning_"


def ledger_key(email_id: str) -> str:
    return f"{LEDGER_PREFIX}{email_id}"


def ledger_value(sent_at: datetime, attempt_key: str) -> str:
    """``<unix seconds>:<16 hex of the attempt key's hash>``: when, and which attempt."""
    return f"{int(sent_at.timestamp())}:{_attempt_hash(attempt_key)}"


def _attempt_hash(attempt_key: str) -> str:
    return hashlib.sha256(attempt_key.encode()).hexdigest()[:16]


def _read_ledger(value: object) -> tuple[datetime, str] | None:
    sent, _, attempt = str(value or "").partition(":")
    if not sent.isdigit() or not attempt:
        return None
    return datetime.fromtimestamp(int(sent), UTC), attempt


class DunningHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def dunning_email(self, request: StepInput) -> StepOutput:
        email_id = str(request.step.params.get("email") or "")
        template = cached_catalog(self.services.settings.catalog_path).dunning.get(email_id)
        if template is None:
            raise ApplicationError(
                f"step {request.step.id}: no dunning e-mail {email_id!r} in the catalog",
                non_retryable=True,
            )
        found_id = invoice_id(request.detection, request.facts)
        if not found_id:
            return _not_sent("There is no invoice on this remediation to dun.", "no_invoice")
        invoice = await call(self.services.stripe.invoice, found_id, ["customer"])
        number = str(invoice.get("number") or invoice["id"])
        if invoice.get("status") != "open":
            status = invoice.get("status")
            return _not_sent(f"Not sent: invoice {number} is {status}.", f"invoice_{status}")
        customer = invoice.get("customer")
        if not isinstance(customer, dict) or customer.get("deleted"):
            return _not_sent(f"Not sent: invoice {number} has no customer.", "no_customer")
        metadata = customer.get("metadata") or {}
        if str(metadata.get("do_not_contact", "")).strip().lower() == "true":
            return _not_sent(
                f"Skipped e-mail {email_id}: {customer.get('name') or customer['id']} is marked "
                "do not contact in Stripe.",
                "do_not_contact",
            )
        address = str(customer.get("email") or "")
        if "@" not in address:
            return _not_sent(
                f"Not sent: the Stripe customer {customer['id']} has no e-mail address.",
                "no_address",
            )

        key = ledger_key(template.id)
        last = _read_ledger((invoice.get("metadata") or {}).get(key))
        now = datetime.now(UTC)
        if last is not None and last[1] == _attempt_hash(request.attempt_key):
            return StepOutput(
                ok=True,
                text=f"E-mail {template.id} was already sent to {mask_address(address)} "
                f"at {last[0]:%Y-%m-%d %H:%M} UTC (this attempt).",
            )
        once_per = request.step.params.get("once_per_hours")
        if last is not None and once_per:
            wait = timedelta(hours=float(once_per))
            if now - last[0] < wait:
                return _not_sent(
                    f"Not sent: the payer was sent this e-mail at {last[0]:%Y-%m-%d %H:%M} UTC; "
                    f"it goes out at most once every {_hours(wait)}, so again from "
                    f"{last[0] + wait:%Y-%m-%d %H:%M} UTC.",
                    "sent_recently",
                )

        hosted = str(invoice.get("hosted_invoice_url") or "")
        portal = await call(
            self.services.stripe.billing_portal_link,
            str(customer["id"]),
            hosted or None,
            idempotency_key(f"{request.attempt_key}/portal"),
        )
        values = {
            "amount": format_amount(
                invoice.get("amount_remaining", invoice.get("amount_due")), invoice.get("currency")
            ),
            "invoice_number": number,
            "company": str(customer.get("name") or ""),
            "hosted_invoice_url": hosted,
            "card_update_url": portal,
        }
        rendered = render_email(template, values)
        try:
            await asyncio.to_thread(
                self.services.email.send,
                [address],
                rendered.subject,
                rendered.text,
                rendered.html,
                message_id(f"{request.attempt_key}/dunning"),
            )
        except PermanentError as exc:
            return _not_sent(
                f"E-mail {template.id} to {mask_address(address)} was refused: {exc.detail}",
                "refused",
            )
        except TransientError as exc:
            # Nothing was sent: the step's retry policy tries again.
            raise ApplicationError(str(exc), type="smtp.transient") from exc

        text = (
            f'Sent e-mail {template.id} ("{rendered.subject}") to {mask_address(address)}, '
            f"with the hosted invoice page{' and' if hosted else ' (none) and'} a card-update "
            "link."
        )
        try:
            await call(
                self.services.stripe.set_invoice_metadata,
                found_id,
                {key: ledger_value(now, request.attempt_key)},
                idempotency_key(f"{request.attempt_key}/ledger"),
            )
        except ApplicationError as err:
            # The e-mail is out: retrying the step would send it again.
            text += f" Stripe did not record it ({err.message}): the daily limit may not see it."
        return StepOutput(
            ok=True,
            text=text,
            facts={"dunning_last_email": template.id, "dunning_last_sent_at": now.isoformat()},
        )


def _not_sent(text: str, code: str) -> StepOutput:
    return StepOutput(ok=False, text=text, error_code=code)


def _hours(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    shown = f"{hours:g}"
    return f"{shown} hour{'s' if hours != 1 else ''}"


__all__ = ["DunningHandlers", "ledger_key", "ledger_value"]
