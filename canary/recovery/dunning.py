"""Dunning e-mails as catalog data: the sequence sent to the payer of a failed invoice.

The catalog's ``dunning:`` section validates into :class:`DunningCatalog`. Each e-mail has a
subject, a text body and an HTML body with ``{name}`` placeholders (only the names of
:data:`PLACEHOLDERS`, checked when the catalog loads), and says when it goes out: after a
scheduled retry of the plan failed (``after_attempt``), on a day after the first failure
(``day``), or only when a person sends it (neither).

Pure (no I/O), so the workflow may read the sequence; the ``stripe.dunning_email`` step
renders and sends one e-mail of it. Rendering is a plain name lookup (no paths, attributes or
calls), like the SOP messages' templates, which this module cannot import: the SOP schema
imports it.
"""

from __future__ import annotations

import html
import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: What a dunning template may name, each filled from Stripe at send time.
PLACEHOLDERS: dict[str, str] = {
    "amount": "What is due, formatted with its currency (e.g. $1,200.00).",
    "invoice_number": "The invoice's number (its id when Stripe gave it none).",
    "company": "The customer's name in Stripe (the paying company).",
    "hosted_invoice_url": "The invoice's hosted page, where the payer pays.",
    "card_update_url": "A fresh billing-portal link where the payer changes card.",
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")


class DunningEmail(BaseModel):
    """One e-mail of the sequence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]{1,25}$", description="Names it in step params.")
    after_attempt: int | None = Field(
        None, ge=1, description="Sent once the plan's scheduled retry number N has failed."
    )
    day: int | None = Field(None, ge=0, description="Sent this many days after the failure.")
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, description="The plain-text body.")
    html: str = Field(min_length=1, description="The HTML body (values are escaped into it).")

    @model_validator(mode="after")
    def _check(self) -> DunningEmail:
        if self.after_attempt is not None and self.day is not None:
            raise ValueError(f"dunning e-mail {self.id}: give after_attempt or day, not both")
        for part in ("subject", "text", "html"):
            for name in _PLACEHOLDER.findall(getattr(self, part)):
                if name not in PLACEHOLDERS:
                    raise ValueError(
                        f"dunning e-mail {self.id}: {part} names {{{name}}}; known: "
                        + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                    )
        return self

    @property
    def scheduled(self) -> bool:
        """Whether the sequence sends it by itself (else only a person does)."""
        return self.after_attempt is not None or self.day is not None


class RenderedEmail(BaseModel):
    subject: str
    text: str
    html: str


class DunningCatalog(BaseModel):
    """The catalog's ``dunning:`` section: the e-mails, in the order they are listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    emails: tuple[DunningEmail, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> DunningCatalog:
        ids = [e.id for e in self.emails]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate dunning e-mail ids: {dupes}")
        return self

    def get(self, email_id: str) -> DunningEmail | None:
        return next((e for e in self.emails if e.id == email_id), None)

    def sequence(self) -> list[DunningEmail]:
        """The e-mails the sequence sends by itself, in no particular order of kind: those
        after an attempt by attempt, then those on a day by day."""
        by_attempt = sorted(
            (e for e in self.emails if e.after_attempt is not None),
            key=lambda e: e.after_attempt or 0,
        )
        by_day = sorted((e for e in self.emails if e.day is not None), key=lambda e: e.day or 0)
        return [*by_attempt, *by_day]


def _fill(template: str, values: dict[str, str], escape: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        return html.escape(value, quote=True) if escape else value

    return _PLACEHOLDER.sub(replace, template).strip()


def render_email(email: DunningEmail, values: dict[str, str]) -> RenderedEmail:
    """The e-mail with ``values`` filled in: as they are in the subject and text, HTML-escaped
    (quotes too, since links sit in attributes) in the HTML body, never the template's own
    markup. The subject keeps to one line."""
    return RenderedEmail(
        subject=" ".join(_fill(email.subject, values).split()),
        text=_fill(email.text, values) + "\n",
        html=_fill(email.html, values, escape=True),
    )


def mask_address(address: str) -> str:
    """``ap@globex.example`` → ``a***@globex.example``: enough for a person to recognise it on
    the timeline, not the address itself."""
    local, _, domain = address.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"
