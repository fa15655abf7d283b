"""The sandbox's HTML pages: Jinja templates from ``sandbox/templates``, escaped by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def money(amount: int | None, currency: str = "usd") -> str:
    """An amount in cents as Canary's messages show it."""
    # Imported on first use: the adapter's module loads the Stripe SDK.
    from canary.money import format_amount

    return format_amount(amount, currency)


def render(name: str, **values: Any) -> HTMLResponse:
    """A page from its template, with ``money`` to format Stripe amounts."""
    return HTMLResponse(TEMPLATES.get_template(name).render(money=money, **values))
