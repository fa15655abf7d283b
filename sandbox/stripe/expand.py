"""``expand[]``: the objects an answer names by id, put in place of their ids, as Stripe does.

A path is a chain of fields (``payments.data.payment.payment_intent``); ``data`` steps into a
list. Each object type has its expandable fields, and a field a version does not show cannot
be expanded in it (an invoice's ``payment_intent`` in today's versions). ``payments`` on an
invoice is shown only when expanded (Stripe calls it includable) and only in today's versions.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.stripe.state import StripeState
from sandbox.stripe.versions import CURRENT, shows
from sandbox.stripe.wire import Obj, StripeApiError

#: Fields naming another object by id, and the object type they name, by object type.
EXPANDABLE: dict[str, dict[str, str]] = {
    "invoice": {
        "customer": "customer",
        "default_payment_method": "payment_method",
        "payment_intent": "payment_intent",
        "charge": "charge",
    },
    "invoice_payment": {
        "invoice": "invoice",
        "payment.payment_intent": "payment_intent",
        "payment.charge": "charge",
    },
    "payment_intent": {
        "customer": "customer",
        "invoice": "invoice",
        "latest_charge": "charge",
        "payment_method": "payment_method",
    },
    "charge": {"customer": "customer", "invoice": "invoice", "payment_intent": "payment_intent"},
    "invoiceitem": {"customer": "customer", "invoice": "invoice"},
    "customer": {"invoice_settings.default_payment_method": "payment_method"},
    "payment_method": {"customer": "customer"},
}

#: The most fields one expansion chains (``data`` counted), as Stripe allows.
MAX_DEPTH = 4

#: Fields shown only when expanded (Stripe's includable fields), and the versions that have them.
INCLUDABLE: dict[tuple[str, str], frozenset[str]] = {("invoice", "payments"): frozenset({CURRENT})}


def expand(state: StripeState, body: Obj, paths: Any, version: str) -> None:
    """Expand ``paths`` (``expand[]``) in ``body``, a copy the handler's answer was made into."""
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list):
        raise StripeApiError(
            400, "invalid_request_error", "Invalid array", "parameter_invalid_string", "expand"
        )
    for path in paths:
        parts = str(path).split(".")
        if len(parts) > MAX_DEPTH:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand(state, body, parts, version)


def _refuse(field: str) -> StripeApiError:
    return StripeApiError(
        400, "invalid_request_error", f"This property cannot be expanded ({field})."
    )


def _expand(state: StripeState, obj: Any, parts: list[str], version: str) -> None:
    if not parts or not isinstance(obj, dict):
        return
    if obj.get("object") == "list":
        if parts[0] != "data":
            raise _refuse(parts[0])
        for item in obj.get("data") or []:
            _expand(state, item, parts[1:], version)
        return
    kind = str(obj.get("object"))
    if version in INCLUDABLE.get((kind, parts[0]), frozenset()):
        if not isinstance(obj.get("payments"), dict):
            obj["payments"] = _invoice_payments(state, obj["id"])
        _expand(state, obj["payments"], parts[1:], version)
        return
    fields = EXPANDABLE.get(kind, {})
    # The longest chain of fields that names an expandable one (``payment.payment_intent``).
    for n in range(len(parts), 0, -1):
        field = ".".join(parts[:n])
        if field in fields and shows(kind, parts[0], version):
            break
    else:
        raise _refuse(parts[0])
    holder: Any = obj
    for part in parts[: n - 1]:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if not isinstance(holder, dict):
        return
    name = parts[n - 1]
    value = holder.get(name)
    if isinstance(value, str):
        holder[name] = copy.deepcopy(state.get(fields[field], value))
    _expand(state, holder.get(name), parts[n:], version)


def _invoice_payments(state: StripeState, invoice_id: str) -> Obj:
    """An invoice's ``payments``: its invoice payments, newest first."""
    payments = sorted(
        (p for p in state.all("invoice_payment") if p["invoice"] == invoice_id),
        key=lambda p: (p["created"], p["id"]),
        reverse=True,
    )
    return {
        "object": "list",
        "data": copy.deepcopy(payments),
        "has_more": False,
        "url": f"/v1/invoice_payments?invoice={invoice_id}",
    }
