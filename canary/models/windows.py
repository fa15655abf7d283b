"""Quiet windows: a time when matching remediations are still made, diagnosed and fixed
automatically, but ping nobody ("we are migrating billing for Hooli this week").

A window names an account, an error type or both, when it starts and ends, why, and who
opened it. It runs as a workflow of its own (``QuietWindowWorkflow``) that people can list and
end early; each remediation that a window mutes keeps the window's end on a timer of its own,
so nothing stays muted after the end, whatever happens to the window's workflow.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, field_validator, model_validator

from canary.models.detection import AccountRef

#: The longest a window may be: a mute that outlives a migration is how alerts go missing.
MAX_WINDOW = timedelta(days=31)
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The longest opener's name kept (Slack's names are shorter: a display name has at most 80).
NAME_LIMIT = 120
#: The outside fact a window's early end becomes for the remediations it muted.
WINDOW_ENDED = "quiet_window_ended"


class QuietWindow(BaseModel):
    """One quiet window, as opened (and, if ended early, when and by whom)."""

    id: str = Field(description="Lower-case letters, digits, '.', '_' and '-'; unique.")
    account: str | None = Field(
        None,
        max_length=200,
        description="Matches a remediation's CRM account id, Stripe customer id, app account "
        "id, domain or name (case does not matter).",
    )
    error_type: str | None = Field(None, max_length=100, description="e.g. payment_failed")
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=200)
    opened_by: str = Field(
        min_length=1,
        max_length=200,
        description="Who opened it: a Slack user id when opened from Slack, else as given "
        "(a name or an e-mail).",
    )
    opened_by_name: str | None = Field(
        None,
        max_length=NAME_LIMIT,
        description="The opener's name as Slack shows it (users.info), kept when the window "
        "is opened from Slack: what the command line and the report show for them.",
    )
    ended_at: datetime | None = Field(None, description="Set when it was ended early.")
    ended_by: str | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("a window id is 1-80 lower-case letters, digits, '.', '_' or '-'")
        return value

    @field_validator("opened_by_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """A name is shown on one line: control characters and runs of spaces become one."""
        if value is None:
            return None
        return " ".join(_CONTROL.sub(" ", value).split()) or None

    @field_validator("account", "error_type")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _sensible(self) -> QuietWindow:
        if self.account is None and self.error_type is None:
            raise ValueError("a quiet window names an account, an error type or both")
        if self.ends_at <= self.starts_at:
            raise ValueError("a quiet window ends after it starts")
        if self.ends_at - self.starts_at > MAX_WINDOW:
            raise ValueError("a quiet window lasts at most 31 days")
        return self

    @property
    def end(self) -> datetime:
        """When it stops muting: its end, or when it was ended early."""
        return min(self.ends_at, self.ended_at) if self.ended_at else self.ends_at

    @property
    def opener(self) -> str:
        """Who opened it, for a reader outside Slack: their name when Slack gave it, else
        ``opened_by`` as given. Slack text names them with ``mrkdwn.mention`` instead."""
        return self.opened_by_name or self.opened_by

    def open_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.end

    def matches(self, error_type: str, account: AccountRef) -> bool:
        if self.error_type is not None and self.error_type != error_type:
            return False
        if self.account is None:
            return True
        wanted = self.account.casefold()
        names = (
            account.crm_id,
            account.stripe_customer_id,
            account.app_account_id,
            account.domain,
            account.name,
        )
        return any(name is not None and name.casefold() == wanted for name in names)

    def scope(self) -> str:
        """What it mutes, in words: "payment_failed on Hooli"."""
        what = self.error_type or "every error"
        return f"{what} on {self.account}" if self.account else f"{what} on every account"


class QuietWindows(BaseModel):
    """The windows open now (the remediation's lookup, ``canary windows list``)."""

    windows: list[QuietWindow] = Field(default_factory=list)
