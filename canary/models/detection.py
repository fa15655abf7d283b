"""What a source reports: one detected GTM error, before diagnosis."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from canary import ids

#: The longest message kept whole. A longer one is kept cut to this many characters (the last
#: one "…") with its full size and SHA-256 hash, never refused: a workflow tool does not retry
#: a 4xx, so a refused report would be a lost error.
MESSAGE_LIMIT = 2_000


def cut_message(message: str) -> dict[str, Any]:
    """A message over :data:`MESSAGE_LIMIT` cut to it, with what identifies the whole."""
    # surrogatepass: JSON may carry a lone surrogate ("\ud800"), which strict UTF-8 refuses.
    whole = message.encode("utf-8", "surrogatepass")
    return {
        "message": message[: MESSAGE_LIMIT - 1] + "…",
        "message_size": len(message),
        "message_sha256": hashlib.sha256(whole).hexdigest(),
    }


class Subject(BaseModel):
    """The thing that is wrong: one remediation is open per subject at a time."""

    kind: str = Field(
        max_length=100, description="invoice, opportunity, app_account, account, payment_intent, …"
    )
    id: str = Field(min_length=1, max_length=200, description="The subject's id in its system.")


class AccountRef(BaseModel):
    """Everything a source knows about the customer account; every field is optional."""

    model_config = ConfigDict(extra="allow")

    crm_id: str | None = Field(None, description="Salesforce Account id.")
    name: str | None = None
    domain: str | None = None
    stripe_customer_id: str | None = None
    app_account_id: str | None = None
    # Bounded: it becomes the CanaryOwner search attribute, which Temporal caps in size.
    owner_email: str | None = Field(
        None, max_length=320, description="Account owner's e-mail, for Slack routing."
    )

    def filled_from(self, found: AccountRef) -> AccountRef:
        """This account with the gaps filled from a lookup: what the source said wins."""
        current = self.model_dump(exclude_none=True)
        return type(self)(**{**found.model_dump(exclude_none=True), **current})

    def label(self) -> str:
        return (
            self.name or self.domain or self.crm_id or self.stripe_customer_id or "unknown account"
        )

    def key(self) -> str:
        """A stable key for search attributes and clustering."""
        return self.id_key() or self.domain or self.name or ""

    def id_key(self) -> str:
        """The account's id in a system of record, never its name or domain: what a search
        attribute may carry when payloads are encrypted."""
        return self.crm_id or self.stripe_customer_id or self.app_account_id or ""


class Link(BaseModel):
    label: str
    url: str


def _links_from_any(value: Any) -> Any:
    if isinstance(value, dict):
        return [{"label": str(k), "url": str(v)} for k, v in value.items()]
    return value


class Detection(BaseModel):
    """A detected error, from a webhook, a detector workflow or any tool via the API.

    Unknown extra fields are kept (``extra="allow"``) so a source can send more than Canary
    knows about without being refused; they travel with the detection into the timeline.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "payment_failed",
                    "source": "stripe",
                    "subject": {"kind": "invoice", "id": "in_1PqRsTuVwXyZ"},
                    "account": {"name": "Globex", "stripe_customer_id": "cus_Q1w2e3r4"},
                    "message": "Your card has insufficient funds.",
                    "facts": {"decline_code": "insufficient_funds", "amount_due": 480000},
                },
                {
                    "source": "zapier",
                    "subject": {"kind": "zap_run", "id": "run_8812"},
                    "message": "Task failed: HubSpot returned 502 Bad Gateway",
                    "links": [{"label": "Zap run", "url": "https://zapier.com/app/history"}],
                },
            ]
        },
    )

    id: str | None = Field(
        None,
        description="The source's id for this report (a Stripe event id, say). Redelivered "
        "reports with the same id are folded into the open remediation once.",
    )
    type: str | None = Field(
        None, description="A catalog error type; when absent, diagnosis decides from the facts."
    )
    source: str = Field(description="Who reported it: stripe, salesforce, product, zapier, …")
    subject: Subject
    account: AccountRef = Field(default_factory=AccountRef)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    message: str = Field(
        "",
        description=f"What the source reported, verbatim. Over {MESSAGE_LIMIT} characters it is "
        "kept cut (ending in …), with message_size and message_sha256 describing the whole.",
    )
    message_size: int | None = Field(
        None, description="Set when the message was cut: its length in characters."
    )
    message_sha256: str | None = Field(
        None, description="Set when the message was cut: the SHA-256 (hex) of its UTF-8 bytes."
    )
    facts: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    raw: dict[str, Any] | None = Field(None, description="The source's raw payload, if any.")

    @model_validator(mode="before")
    @classmethod
    def _cut_long_message(cls, data: Any) -> Any:
        message = data.get("message") if isinstance(data, dict) else None
        if isinstance(message, str) and len(message) > MESSAGE_LIMIT:
            return {**data, **cut_message(message)}
        return data

    @field_validator("links", mode="before")
    @classmethod
    def _normalise_links(cls, value: Any) -> Any:
        # Tools often send links as {"label": "url"}; accept both shapes.
        return _links_from_any(value)

    def dedupe_key(self) -> str:
        """Identifies this report: the source's id, or a hash of what it said."""
        if self.id:
            return f"{self.source}:{self.id}"
        body = json.dumps(
            [
                self.source,
                self.subject.model_dump(),
                # Two long reports alike in their first characters are still two reports.
                self.message_sha256 or self.message,
                self.facts,
                self.occurred_at.isoformat(),
            ],
            sort_keys=True,
            default=str,
        )
        return f"{self.source}:sha256:{hashlib.sha256(body.encode()).hexdigest()[:24]}"


def checked_report(detection: Detection) -> Detection:
    """``detection`` when every Stripe and Salesforce id it carries has its system's shape: the
    subject's (by its kind), the account's ``crm_id`` and ``stripe_customer_id``, and the facts
    the steps read as ids (``case_id``, ``opportunity_id``, ``invoice_id`` …). Otherwise one
    ValueError naming each field, so a report cannot hand a URL or a path to a step."""
    checks: list[tuple[Any, str, tuple[str, str]]] = []
    if kind := ids.SUBJECT_KINDS.get(detection.subject.kind):
        checks.append((detection.subject.id, f"subject.id (kind {detection.subject.kind})", kind))
    for field, kind in ids.ACCOUNT_IDS.items():
        checks.append((getattr(detection.account, field), f"account.{field}", kind))
    for name, kind in ids.ID_FACTS.items():
        checks.append((detection.facts.get(name), f"facts.{name}", kind))
    problems = []
    for value, role, (system, object_kind) in checks:
        # The steps read an absent or empty id as none at all.
        if value is None or value == "":
            continue
        try:
            ids.check(value, role, system, object_kind)
        except ids.InvalidId as err:
            problems.append(f"{err.role} must be {err.expected}")
    if problems:
        raise ValueError("; ".join(problems))
    return detection


#: A detection as a tool reports it (``POST /api/detections``, ``canary detect``), its ids
#: checked by :func:`checked_report`. The check is on reports, not on :class:`Detection`
#: itself: Temporal reads every detection back from history, and a check added later must
#: never stop an open remediation from replaying. The adapters check every id again.
ReportedDetection = Annotated[Detection, AfterValidator(checked_report)]
