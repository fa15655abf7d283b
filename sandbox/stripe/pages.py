"""Stripe's pages for people: the hosted invoice (pay it with a test card), its PDF, the
billing portal (replace the card) and a small dashboard of the account's objects."""

from __future__ import annotations

import asyncio
import copy
import json
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from sandbox.deps import SandboxDep
from sandbox.stripe import versions
from sandbox.stripe.customers import attach
from sandbox.stripe.payments import charge
from sandbox.stripe.seed import TEST_CARDS
from sandbox.stripe.state import previous_attributes, public
from sandbox.stripe.wire import StripeApiError
from sandbox.templating import money, render

router = APIRouter(tags=["stripe pages"])


def _card_choices() -> list[tuple[str, str]]:
    """The test cards a person can pick on the hosted pages, with what each one does."""
    labels = {
        "pm_card_visa": "Visa •••• 4242 (succeeds)",
        "pm_card_mastercard": "Mastercard •••• 4444 (succeeds)",
        "pm_card_chargeDeclinedInsufficientFunds": "Visa •••• 9995 (insufficient funds)",
        "pm_card_chargeDeclinedExpiredCard": "Visa •••• 0069 (expired)",
        "pm_card_chargeDeclined": "Visa •••• 0002 (declined)",
        "pm_card_authenticationRequired": "Visa •••• 3184 (needs authentication)",
    }
    return [(token, labels[token]) for token in labels if token in TEST_CARDS]


@router.get("/hosted/invoices/{invoice_id}", response_class=HTMLResponse)
async def hosted_invoice(
    sandbox: SandboxDep, invoice_id: str, paid: int = 0, error: str | None = None
) -> Response:
    with sandbox.stripe.lock:
        try:
            invoice = public(sandbox.stripe.get("invoice", invoice_id))
        except StripeApiError as exc:
            return PlainTextResponse(exc.body["message"], status_code=404)
    message = error or ("Thank you: payment received." if paid else None)
    return render(
        "hosted_invoice.html",
        invoice=invoice,
        cards=_card_choices(),
        message=message,
        error=bool(error),
    )


@router.post("/hosted/invoices/{invoice_id}/pay")
async def hosted_pay(sandbox: SandboxDep, invoice_id: str, request: Request) -> Response:
    """The payer pays on Stripe's hosted invoice page."""
    form = dict((await request.form()).items())
    token = str(form.get("payment_method") or "pm_card_visa")
    state = sandbox.stripe

    def pay() -> tuple[int, str | None]:
        with state.lock:
            invoice = state.get("invoice", invoice_id)
            if invoice["status"] != "open":
                return 409, f"This invoice is {invoice['status']}."
            pm = attach(state, token, invoice["customer"])
            try:
                charge(state, invoice, pm, None)
            except StripeApiError as exc:
                return 402, str(exc.body["message"])
            return 303, None

    try:
        status, problem = await asyncio.to_thread(pay)
    except StripeApiError as exc:
        status, problem = exc.status, str(exc.body["message"])
    sandbox.recorder.record(
        "hosted", "POST", f"/hosted/invoices/{invoice_id}/pay", body=form, status=status
    )
    if problem:
        return RedirectResponse(
            f"/hosted/invoices/{invoice_id}?error={quote(problem)}", status_code=303
        )
    return RedirectResponse(f"/hosted/invoices/{invoice_id}?paid=1", status_code=303)


@router.get("/hosted/invoices/{invoice_id}/pdf")
async def invoice_pdf(sandbox: SandboxDep, invoice_id: str) -> Response:
    with sandbox.stripe.lock:
        try:
            invoice = sandbox.stripe.get("invoice", invoice_id)
        except StripeApiError as exc:
            return PlainTextResponse(exc.body["message"], status_code=404)
        lines = (
            [f"Invoice {invoice['number']} — {invoice['customer_name']}"]
            + [
                f"  {line['description']}: {money(line['amount'], line['currency'])}"
                for line in invoice["lines"]["data"]
            ]
            + [
                f"Amount due: {money(invoice['amount_due'], invoice['currency'])}",
                f"Status: {invoice['status']}",
            ]
        )
    return PlainTextResponse("\n".join(lines))


@router.get("/billing_portal/sessions/{session_id}", response_class=HTMLResponse)
async def portal(sandbox: SandboxDep, session_id: str, updated: int = 0) -> Response:
    state = sandbox.stripe
    with state.lock:
        try:
            session = state.get("billing_portal.session", session_id, "session")
        except StripeApiError as exc:
            return PlainTextResponse(exc.body["message"], status_code=404)
        customer = state.get("customer", session["customer"])
        pm_id = customer["invoice_settings"]["default_payment_method"]
        card = state.objects.get("payment_method", {}).get(pm_id or "", {}).get("card")
        invoices = [
            public(i)
            for i in state.all("invoice")
            if i["customer"] == customer["id"] and i["status"] != "draft"
        ]
    return render(
        "portal.html",
        session=session,
        customer=customer,
        card=card,
        invoices=invoices,
        cards=_card_choices(),
        message="Payment method updated." if updated else None,
    )


@router.post("/billing_portal/sessions/{session_id}/payment_method")
async def portal_update(sandbox: SandboxDep, session_id: str, request: Request) -> Response:
    """The customer replaces their card in the billing portal."""
    form = dict((await request.form()).items())
    token = str(form.get("payment_method") or "pm_card_visa")
    state = sandbox.stripe
    with state.lock:
        try:
            session = state.get("billing_portal.session", session_id, "session")
        except StripeApiError as exc:
            return PlainTextResponse(exc.body["message"], status_code=404)
        customer = state.get("customer", session["customer"])
        pm = attach(state, token, customer["id"])
        state.emit("payment_method.attached", public(pm))
        before = copy.deepcopy(customer)
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        state.emit(
            "customer.updated", public(customer), previous=previous_attributes(before, customer)
        )
    sandbox.recorder.record(
        "hosted",
        "POST",
        f"/billing_portal/sessions/{session_id}/payment_method",
        body=form,
        status=303,
    )
    return RedirectResponse(f"/billing_portal/sessions/{session_id}?updated=1", status_code=303)


DASHBOARD_KINDS = {
    "invoices": "invoice",
    "customers": "customer",
    "payments": "payment_intent",
    "charges": "charge",
    "events": "event",
}


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_home(sandbox: SandboxDep) -> Response:
    state = sandbox.stripe
    with state.lock:
        invoices = sorted(state.all("invoice"), key=lambda i: i["created"], reverse=True)
        items = [
            (
                f"{i.get('number') or i['id']} — {i.get('customer_name')}",
                f"/dashboard/invoices/{i['id']}",
                f"{money(i['amount_due'], i['currency'])} · {i['status']}",
            )
            for i in invoices[:100]
        ]
    return render(
        "object.html",
        brand="Stripe (sandbox)",
        home="/dashboard",
        home_label="Dashboard",
        title="Invoices",
        subtitle="Test mode",
        rows=[],
        items=items,
        raw=None,
    )


@router.get("/dashboard/{kind}/{object_id}", response_class=HTMLResponse)
async def dashboard_object(sandbox: SandboxDep, kind: str, object_id: str) -> Response:
    object_type = DASHBOARD_KINDS.get(kind)
    if object_type is None:
        return PlainTextResponse(f"No dashboard page for {kind}", status_code=404)
    with sandbox.stripe.lock:
        try:
            obj = versions.render(
                sandbox.stripe.get(object_type, object_id), sandbox.stripe.api_version
            )
        except StripeApiError as exc:
            return PlainTextResponse(exc.body["message"], status_code=404)
    rows = [(k, v) for k, v in obj.items() if not isinstance(v, dict | list) and v is not None][:30]
    return render(
        "object.html",
        brand="Stripe (sandbox)",
        home="/dashboard",
        home_label="Dashboard",
        title=f"{object_type.replace('_', ' ')} {object_id}",
        subtitle="Test mode",
        rows=rows,
        items=[],
        raw=json.dumps(obj, indent=2),
    )
