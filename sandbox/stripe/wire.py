"""Stripe's wire format: errors in Stripe's shape, form-encoded parameters
with Stripe's bracket notation, and the API keys Stripe accepts in test mode."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

Obj = dict[str, Any]


class StripeApiError(Exception):
    """An error answered in Stripe's shape: ``{"error": {"type", "code", "message", …}}``."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Obj = {"type": type_, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param
        self.body.update({k: v for k, v in extra.items() if v is not None})


def missing(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing", param
    )


# -- parameters ---------------------------------------------------------------------------

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _listify(value: Any) -> Any:
    """Turn ``{"0": a, "1": b}`` (from ``x[0]=a&x[1]=b``) into ``[a, b]``."""
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def decode_form(pairs: list[tuple[str, str]]) -> Obj:
    """Stripe's ``a[b][0]=c`` notation as nested dicts and lists."""
    out: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # ``x[]=a``: append
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                nxt = node.setdefault(part, {})
                if not isinstance(nxt, dict):
                    raise StripeApiError(
                        400,
                        "invalid_request_error",
                        f"Invalid {key}: mixes a value and a hash",
                        "parameter_invalid_string",
                        key,
                    )
                node = nxt
    return dict(_listify(out))


def int_param(params: Obj, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"Invalid integer: {value}",
            "parameter_invalid_integer",
            name,
        ) from None
    if number < minimum:
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"This value must be greater than or equal to {minimum}.",
            "parameter_invalid_integer",
            name,
        )
    return number


def is_true(value: Any) -> bool:
    return str(value).lower() in {"true", "1", "yes"}


def metadata_param(params: Obj, current: Obj | None = None) -> Obj:
    merged = dict(current or {})
    given = params.get("metadata")
    if given == "":  # ``metadata=`` unsets everything
        return {}
    if isinstance(given, dict):
        for key, value in given.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = str(value)
    return merged


# -- requests -----------------------------------------------------------------------------


def authenticate(authorization: str | None) -> None:
    scheme, _, key = (authorization or "").partition(" ")
    if not key:
        raise StripeApiError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if scheme.lower() != "bearer" or not (key.startswith("sk_test_") or key.startswith("rk_test_")):
        shown = key[:7] + "*" * max(0, len(key) - 11) + key[-4:] if len(key) > 11 else key
        raise StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")


def params_of(method: str, query: str, body: bytes, content_type: str) -> Obj:
    """A call's parameters: the query string and, but for a GET, the form-encoded body."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if method != "GET" and body:
        if "json" in content_type:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Invalid request: the body must be application/x-www-form-urlencoded, as "
                "Stripe's API expects.",
            )
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return decode_form(pairs)
