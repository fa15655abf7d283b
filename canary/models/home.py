"""What a person's Home tab needs of a remediation, kept in the remediation's memo.

A remediation keeps its Home entry in its Temporal memo (:data:`HOME_MEMO`), so publishing a
Home reads every listed remediation in one visibility call instead of one status query each:
the entry is the remediation's status with what a Home never shows left out (the timeline,
the SOP's steps and ladder, the lookups' facts other than a choice's options). Whenever the
entry changes, the remediation names the people whose Home shows it (:class:`HomePeople`)
and the worker publishes their Homes again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from canary.models.remediation import Diagnosis, RemediationStatus, SlackRef

log = logging.getLogger(__name__)

#: The memo key of a remediation's Home entry.
HOME_MEMO = "canary_home"


def home_entry(status: RemediationStatus) -> RemediationStatus:
    """``status`` as a Home shows it: headline, state, severity, account, owner, links and the
    buttons (with the options a choice offers), without the timeline, the pinned SOP's steps,
    ladder and rules, or the lookups' facts."""
    diagnosis = status.diagnosis
    if diagnosis is not None:
        choices = {a.select_from for a in diagnosis.actions if a.select_from}
        actions = [
            a.model_copy(update={"steps": [], "reasons": [], "snooze_choices": []})
            for a in diagnosis.actions
        ]
        diagnosis = Diagnosis(
            error_type=diagnosis.error_type,
            catalog_version=diagnosis.catalog_version,
            title=diagnosis.title,
            branch=diagnosis.branch,
            severity=diagnosis.severity,
            steps=[],
            headline=diagnosis.headline,
            summary="",
            what_to_do="",
            actions=actions,
            facts={k: v for k, v in diagnosis.facts.items() if k in choices},
        )
    return status.model_copy(update={"diagnosis": diagnosis, "timeline": [], "messages": []})


def memo_of(entry: RemediationStatus) -> dict[str, Any]:
    """The entry as the memo keeps it: what differs from the defaults (a Home entry is read
    by every Home listing and written into the remediation's history at each change)."""
    return entry.model_dump(mode="json", exclude_defaults=True)


def carried(memo: dict[str, Any]) -> str:
    """The entry as a change carries it to the worker's Home refresher: the memo's form as
    compact JSON, which the refresher keeps until its round (a string of 1 to 2 KB, where
    the same entry as Python dicts and lists takes several times that)."""
    return json.dumps(memo, separators=(",", ":"))


def entry_of(memo: Any) -> RemediationStatus | None:
    """The entry a memo holds (None for none)."""
    return RemediationStatus.model_validate(memo) if memo else None


def shown(entry: RemediationStatus | None) -> str | None:
    """What a Home shows of an entry, as JSON (the time of the last change aside: a timeline
    entry alone changes nothing a person sees there); None for no entry. A running
    remediation keeps this (about 2 KB) instead of the entry itself, and compares it whole:
    hashing it cost more than keeping it (a digest of over 2 KB lets go of the GIL, and the
    worker's other threads take it meanwhile)."""
    if entry is None:
        return None
    return entry.model_dump_json(exclude={"updated_at"})


class HomePeople(BaseModel):
    """Whose Homes show a remediation: its owner (by Slack id or e-mail) and whoever one of
    its actions names (Slack ids, user groups)."""

    user_ids: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, entry: RemediationStatus) -> HomePeople:
        actions = entry.diagnosis.actions if entry.diagnosis else []
        users = [entry.owner_slack_user] if entry.owner_slack_user else []
        users += [u for a in actions for u in a.allowed.users]
        groups = [g.lstrip("@") for a in actions for g in a.allowed.groups]
        return cls(
            user_ids=list(dict.fromkeys(users)),
            emails=[entry.owner] if entry.owner and not entry.owner_slack_user else [],
            groups=list(dict.fromkeys(groups)),
        )

    def union(self, other: HomePeople) -> HomePeople:
        return HomePeople(
            user_ids=list(dict.fromkeys([*self.user_ids, *other.user_ids])),
            emails=list(dict.fromkeys([*self.emails, *other.emails])),
            groups=list(dict.fromkeys([*self.groups, *other.groups])),
        )

    @property
    def nobody(self) -> bool:
        return not (self.user_ids or self.emails or self.groups)


class HomeChanged(BaseModel):
    """A remediation's new Home entry (its memo's form as JSON, :func:`carried`), and the
    people whose Homes show it (or showed it)."""

    workflow_id: str
    updated_at: datetime
    people: HomePeople
    entry: str

    def read(self) -> RemediationStatus | None:
        """The entry (None, and a warning, for one that does not read)."""
        try:
            return RemediationStatus.model_validate_json(self.entry)
        except ValueError as exc:
            log.warning("home: unreadable entry of %s: %s", self.workflow_id, exc)
            return None

    def with_alert(self, alert: SlackRef) -> HomeChanged:
        """The change as the alert's first post leaves it: the entry with the posted
        message's ref, as the remediation's memo holds it once the post's task completes
        (the remediation computes its change before the post, when the ref is not known)."""
        entry = RemediationStatus.model_validate_json(self.entry)
        entry.slack = alert
        return self.model_copy(update={"entry": carried(memo_of(entry))})
