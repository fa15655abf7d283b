"""What a person's Home tab needs of a remediation, kept in the remediation's memo.

A remediation keeps its Home entry in its Temporal memo (:data:`HOME_MEMO`), so publishing a
Home reads every listed remediation in one visibility call instead of one status query each:
the entry is the remediation's status with what a Home never shows left out (the timeline,
the SOP's steps and ladder, the lookups' facts other than a choice's options). Whenever the
entry changes, the remediation names the people whose Home shows it (:class:`HomePeople`)
and the worker publishes their Homes again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from canary.models.remediation import RemediationStatus

#: The memo key of a remediation's Home entry.
HOME_MEMO = "canary_home"


def home_entry(status: RemediationStatus) -> RemediationStatus:
    """``status`` as a Home shows it: headline, state, severity, account, owner, links and the
    actions (with the options a choice offers), without the timeline and the pinned SOP."""
    diagnosis = status.diagnosis
    if diagnosis is not None:
        choices = {a.select_from for a in diagnosis.actions if a.select_from}
        diagnosis = diagnosis.model_copy(
            update={
                "steps": [],
                "summary": "",
                "what_to_do": "",
                "investigate": [],
                "automated": [],
                "escalation": [],
                "dunning": [],
                "retry_plan": None,
                "facts": {k: v for k, v in diagnosis.facts.items() if k in choices},
            }
        )
    return status.model_copy(update={"diagnosis": diagnosis, "timeline": [], "messages": []})


def same_entry(a: RemediationStatus | None, b: RemediationStatus | None) -> bool:
    """Whether two entries show the same on a Home (the time of the last change aside: a
    timeline entry alone changes nothing a person sees there)."""
    if a is None or b is None:
        return a is b
    return _shown(a) == _shown(b)


def _shown(entry: RemediationStatus) -> dict[str, Any]:
    return entry.model_dump(mode="json", exclude={"updated_at"})


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
