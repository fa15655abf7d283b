"""What every API handler shares: the call it answers, the table that routes paths to it, and
Stripe's cursor pagination."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.stripe.state import StripeState, public
from sandbox.stripe.wire import Obj, StripeApiError, int_param, missing


@dataclass
class Call:
    """One API call as its handler sees it."""

    method: str
    path: str
    params: Obj
    request_id: str
    idempotency_key: str | None
    #: The API version the call speaks (its ``Stripe-Version``, else the account's).
    version: str


Handler = Callable[[StripeState, Call, "re.Match[str]"], Obj]
Route = tuple[str, re.Pattern[str], Handler]


class Routes:
    """One module's API paths (regular expressions) and their handlers, in declaration order."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn

        return register


def paginate(state: StripeState, call: Call, items: list[Obj], url: str) -> Obj:
    limit = int_param(call.params, "limit", 10, minimum=1) or 10
    if limit > 100:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This value must be less than or equal to 100.",
            "parameter_invalid_integer",
            "limit",
        )
    ordered = sorted(items, key=lambda o: (o.get("created", 0), o["id"]), reverse=True)
    after, before = call.params.get("starting_after"), call.params.get("ending_before")
    ids = [o["id"] for o in ordered]
    if after:
        if after not in ids:
            raise missing("object", after, "starting_after")
        ordered = ordered[ids.index(after) + 1 :]
        page, more = ordered[:limit], len(ordered) > limit
    elif before:
        if before not in ids:
            raise missing("object", before, "ending_before")
        ordered = ordered[: ids.index(before)]
        page, more = ordered[-limit:], len(ordered) > limit
    else:
        page, more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": [public(o) for o in page], "has_more": more, "url": url}
