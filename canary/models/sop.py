"""The SOP catalog as data: match rules, diagnosis branches, steps, actions, escalation.

A team changes an SOP by editing YAML, not workflow code; these models validate it at start.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from canary.models.capabilities import ENRICHERS, STEP_ACTIONS
from canary.recovery.dunning import DunningCatalog
from canary.recovery.plans import RecoveryCatalog

Severity = Literal["low", "medium", "high", "critical"]

#: Button actions. ``action_id`` on a Slack button is ``canary:<id>``.
HumanActionId = Literal[
    "approve",
    "retry",
    "resolve",
    "snooze",
    "dismiss",
    "acknowledge",
    "escalate",
    "link",
    "create_account",
    "schedule",
    "send_link",
    "note",
]

_OPERATORS = (
    "equals",
    "not_equals",
    "in_",
    "not_in",
    "exists",
    "gte",
    "lte",
    "contains",
    "matches",
)


class Rule(BaseModel):
    """A predicate over the diagnosis context (detection fields, facts, enrichment).

    Either a combinator (``all`` / ``any`` / ``not``) or one operator on ``field``, a dotted
    path such as ``facts.decline_code``.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    all: list[Rule] | None = None
    any: list[Rule] | None = None
    not_: Rule | None = Field(None, alias="not")
    field: str | None = None
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    exists: bool | None = None
    gte: float | None = None
    lte: float | None = None
    contains: str | None = None
    matches: str | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> Rule:
        combinators = [c for c in ("all", "any", "not_") if getattr(self, c) is not None]
        operators = [op for op in _OPERATORS if getattr(self, op) is not None]
        if combinators and (operators or self.field):
            raise ValueError("a rule is either all/any/not or a field test, not both")
        if not combinators:
            if not self.field:
                raise ValueError("a field test needs 'field'")
            if len(operators) != 1:
                raise ValueError(f"a field test needs exactly one operator of {_OPERATORS}")
            if self.matches is not None:
                re.compile(self.matches)
        return self

    def describe(self) -> str:
        if self.all is not None:
            return " and ".join(r.describe() for r in self.all)
        if self.any is not None:
            return "(" + " or ".join(r.describe() for r in self.any) + ")"
        if self.not_ is not None:
            return f"not ({self.not_.describe()})"
        for op in _OPERATORS:
            value = getattr(self, op)
            if value is not None:
                return f"{self.field} {op.rstrip('_')} {value!r}"
        return "?"


class Phrase(BaseModel):
    """One way of saying a finding: ``text`` (a template) when ``when`` holds (or always)."""

    model_config = ConfigDict(extra="forbid")

    when: Rule | None = None
    text: str


#: A finding as the catalog says it: one template, or the first phrase whose ``when`` holds.
Said = str | list[Phrase]


class Check(BaseModel):
    """A confirming check. A report the SOP recognises only by its shape (its ``match`` or a
    ``messages`` pattern, no type of its own) is named this SOP once every check passes, in
    order; one that fails, or cannot run because a lookup it reads failed, sends it on to the
    next SOP its shape matches and finally to ``unknown``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_\-]+$")
    title: str = Field(description="What it checks, for the timeline.")
    lookups: list[str] = Field(
        default_factory=list,
        description="Enrichers (ENRICHERS) it reads, run besides the SOP's own only when a "
        "report needs confirming.",
    )
    answered: Rule | None = Field(
        None,
        description="Holds when the lookups answered (a fact they always set). Not holding: "
        "the check could not run, and the alert says so instead of guessing.",
    )
    holds: Rule = Field(description="The check passes when this holds.")
    passed: Said = Field(description='The finding when it passes ("product account exists").')
    failed: Said = Field(description="The finding when it fails.")
    unanswered: str | None = Field(
        None, description="What could not be checked; left out: 'could not check <title>'."
    )

    @model_validator(mode="after")
    def _known_lookups(self) -> Check:
        for name in self.lookups:
            if name not in ENRICHERS:
                raise ValueError(f"check {self.id!r}: unknown enricher {name!r}")
        return self


class Step(BaseModel):
    """One automated step: an activity action, optionally after a durable delay."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_\-]+$")
    action: str = Field(description="One of STEP_ACTIONS (canary.models.capabilities).")
    title: str
    after: timedelta | None = Field(None, description="Wait this long first (a durable timer).")
    params: dict[str, Any] = Field(default_factory=dict)
    resolves: bool = Field(False, description="Success of this step resolves the remediation.")

    @property
    def prepares_only(self) -> bool:
        """Only prepares something for people (see STEP_ACTIONS) and cannot resolve."""
        action = STEP_ACTIONS.get(self.action)
        return action is not None and action.prepares_only and not self.resolves

    @model_validator(mode="after")
    def _known_action(self) -> Step:
        if self.action not in STEP_ACTIONS:
            raise ValueError(
                f"step {self.id!r}: unknown action {self.action!r}; known: "
                f"{', '.join(sorted(STEP_ACTIONS))}"
            )
        return self


class Permission(BaseModel):
    """Who may take an action. Any matching clause allows; ``CANARY_ADMINS`` always may.

    An action that names no ``allowed`` gets its SOP's default when the catalog loads (see
    :meth:`Sop._default_permissions`): the owner and the SOP's ``groups``. Only
    ``anyone: true`` opens a button to everyone in the channel."""

    model_config = ConfigDict(extra="forbid")

    anyone: bool = Field(False, description="Anyone in the channel.")
    owner: bool = Field(False, description="The account or opportunity owner.")
    users: list[str] = Field(default_factory=list, description="Slack user ids.")
    groups: list[str] = Field(
        default_factory=list, description="Slack user group handles (e.g. revops) or ids."
    )

    def describe(self) -> str:
        if self.anyone:
            return "anyone in the channel"
        parts = []
        if self.owner:
            parts.append("the owner")
        parts += [f"<@{u}>" for u in self.users]
        parts += [f"members of @{g}" for g in self.groups]
        parts.append("Canary admins")
        return ", ".join(parts[:-1]) + (" or " if len(parts) > 1 else "") + parts[-1]


ANYONE = Permission(anyone=True)


def owner_and(groups: list[str]) -> Permission:
    """The fail-closed default: the owner, these groups (and, as always, the admins)."""
    return Permission(owner=True, groups=list(groups))


class HumanAction(BaseModel):
    """A button offered to people; its steps run when the click is accepted."""

    model_config = ConfigDict(extra="forbid")

    id: HumanActionId
    label: str
    style: Literal["primary", "danger"] | None = None
    steps: list[Step] = Field(default_factory=list)
    closes_as: Literal["resolved_by_human", "dismissed"] | None = Field(
        None, description="Close the remediation with this outcome once the steps succeed."
    )
    snooze_for: timedelta | None = None
    confirm: str | None = None
    allowed: Permission = Field(
        default_factory=lambda: owner_and([]),
        description="Who may press it. Left out: the owner and the SOP's groups (set when "
        "the catalog loads); anyone only with anyone: true.",
    )
    select_from: str | None = Field(
        None, description="A facts list of {value, label} to choose from (a Slack select)."
    )
    ask_reason: Literal["required", "optional", "no"] | None = Field(
        None,
        description="Whether pressing it asks why (a form in Slack, --reason on the command "
        "line). Left out: required to dismiss, optional to close as resolved without a step "
        "(what fixed it), not asked otherwise.",
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Reasons to pick from when it asks why (free text is always possible).",
    )
    snooze_choices: list[timedelta] = Field(
        default_factory=list,
        description="Durations a snooze offers (with a date); left out: snooze_for alone.",
    )

    @property
    def reason_asked(self) -> Literal["required", "optional", "no"]:
        if self.ask_reason is not None:
            return self.ask_reason
        if self.closes_as == "dismissed":
            return "required"
        # "Mark resolved" (a person says it is fixed, no step of Canary's): what fixed it?
        return "optional" if self.closes_as == "resolved_by_human" and not self.steps else "no"

    @property
    def snooze_options(self) -> list[timedelta]:
        if self.snooze_for is None:
            return []
        return sorted({self.snooze_for, *self.snooze_choices})

    def asks_in_a_form(self) -> bool:
        """Pressing it opens a form first (a reason, a note, a snooze length)."""
        return self.reason_asked != "no" or len(self.snooze_options) > 1 or self.id == "note"


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: timedelta = Field(description="How long to wait for a person before this step.")
    target: Literal["owner", "manager", "escalation_channel", "crm_case"]
    message: str = "Still unresolved after {waited}."


class Resolution(BaseModel):
    """How a remediation may close without a person."""

    model_config = ConfigDict(extra="forbid")

    external_events: list[str] = Field(
        default_factory=list, description="External events (e.g. invoice.paid) that resolve it."
    )
    expire_after: timedelta = Field(timedelta(days=14))


class Message(BaseModel):
    """Templates with ``{dotted.path}`` placeholders over the diagnosis context."""

    model_config = ConfigDict(extra="forbid")

    headline: str
    what_happened: str
    what_to_do: str


class LinkTemplate(BaseModel):
    label: str
    url: str
    when: Rule | None = None


class Branch(BaseModel):
    """One diagnosis step: if ``when`` matches, this branch decides the remediation."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(description="What this diagnosis step checks, for the timeline.")
    when: Rule | None = Field(None, description="None matches always (a default branch).")
    severity: Severity | None = None
    headline: str | None = Field(None, description="Replaces the message's headline.")
    what_happened: str | None = Field(
        None,
        description="Replaces the message's what_happened (a case where what the SOP's text "
        "states is not known, such as a lookup that failed).",
    )
    summary: str | None = None
    what_to_do: str | None = None
    steps: list[Step] = Field(default_factory=list)
    actions: list[HumanAction] | None = Field(
        None, description="Replaces the SOP's actions for this branch."
    )
    escalation: list[EscalationStep] | None = None
    nothing_to_fix: bool = Field(
        False, description="Matching means the error is already gone: close quietly."
    )


def _critical_only() -> list[Severity]:
    return ["critical"]


def _person_closed() -> list[
    Literal["auto_resolved", "resolved_by_human", "resolved_externally", "dismissed"]
]:
    return ["resolved_by_human", "dismissed"]


class Alerting(BaseModel):
    """How loudly a remediation speaks. The defaults keep the original behaviour: every
    remediation posts its alert at once, nothing is e-mailed and nothing cools down."""

    model_config = ConfigDict(extra="forbid")

    digest: bool = Field(
        False,
        description="Severities not listed in 'immediate' go to the owner's daily digest "
        "instead of an alert of their own (escalation still posts at once).",
    )
    immediate: list[Severity] = Field(default_factory=lambda: _critical_only())
    email: list[Severity] = Field(
        default_factory=list, description="These severities also e-mail the owner."
    )
    cooldown: timedelta | None = Field(
        None,
        description="After it closes with an outcome in 'cooldown_after', the same finding on "
        "the same subject is folded in silently for this long instead of alerting again.",
    )
    cooldown_after: list[
        Literal["auto_resolved", "resolved_by_human", "resolved_externally", "dismissed"]
    ] = Field(default_factory=lambda: _person_closed())
    quiet_while_retrying: bool = Field(
        False,
        description="While the recovery plan has retries ahead, nobody is pinged: no alert, no "
        "escalation; people hear of it only once the plan is exhausted (unless 'loud_when').",
    )
    loud_when: Rule | None = Field(
        None,
        description="With quiet_while_retrying: what alerts at once anyway (a committed deal: "
        "its forecast category, an amount over a threshold, a named segment).",
    )


class Sop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    severity: Severity = "medium"
    subject_kinds: list[str] = Field(default_factory=list)
    match: Rule | None = Field(None, description="Recognises this type when a source sends none.")
    messages: list[str] = Field(
        default_factory=list,
        description="Regular expressions (case-insensitive) that recognise this type in the "
        "message of a report that names none, on a subject of subject_kinds (when listed): "
        "a workflow tool's text.",
    )
    confirm: list[Check] = Field(
        default_factory=list,
        description="Checks a report recognised only by its shape must pass to be named this "
        "type (a report that names its type is not asked).",
    )
    enrich: list[str] = Field(
        default_factory=list,
        description="Enrichers run before diagnosis: names of ENRICHERS "
        "(canary.models.capabilities).",
    )
    message: Message
    retry_on_plan: bool = Field(
        False,
        description="A failed payment: retried on the catalog's recovery plan for its decline's "
        "class (recovery.plans), the plan pinned in the diagnosis.",
    )
    branches: list[Branch] = Field(default_factory=list)
    investigate: list[LinkTemplate] = Field(default_factory=list)
    actions: list[HumanAction] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=list)
    resolution: Resolution = Field(default_factory=Resolution)
    alerting: Alerting = Field(default_factory=Alerting)
    groups: list[str] = Field(
        default_factory=list,
        description="Slack user groups (handles or ids) who handle this SOP: with the owner, "
        "who may press an action that names no 'allowed'.",
    )

    @model_validator(mode="after")
    def _default_permissions(self) -> Sop:
        """Resolved here, so the diagnosis pins (and history keeps) who may press what."""
        # Every alert takes notes, from those who may act on it (the default below): the
        # SOP's buttons and a branch's own (a branch that offers none, [], stays without).
        for actions in [self.actions, *(b.actions for b in self.branches if b.actions)]:
            if not any(a.id == "note" for a in actions):
                actions.append(HumanAction(id="note", label="Add a note"))
        for action in self.every_action():
            if "allowed" not in action.model_fields_set:
                action.allowed = owner_and(self.groups)
        return self

    def recognises(self, message: str, subject_kind: str) -> bool:
        """A ``messages`` pattern finds this type in a report's text."""
        if not self.messages or (self.subject_kinds and subject_kind not in self.subject_kinds):
            return False
        return any(re.search(p, message, re.IGNORECASE) for p in self.messages)

    def confirm_lookups(self) -> list[str]:
        """The enrichers confirming a report needs beyond the SOP's own, in order."""
        return [n for c in self.confirm for n in c.lookups if n not in self.enrich]

    @model_validator(mode="after")
    def _patterns(self) -> Sop:
        for pattern in self.messages:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"SOP {self.type}: messages pattern {pattern!r}: {exc}") from exc
        checks = [c.id for c in self.confirm]
        if len(checks) != len(set(checks)):
            raise ValueError(f"SOP {self.type}: confirm check ids must be unique")
        return self

    def every_step(self) -> list[Step]:
        """Every step the SOP may run: its branches' and its actions'."""
        return [
            *(s for b in self.branches for s in b.steps),
            *(s for a in self.every_action() for s in a.steps),
        ]

    def every_action(self) -> list[HumanAction]:
        """The SOP's actions and every branch's own."""
        return [*self.actions, *(a for b in self.branches for a in b.actions or [])]

    @model_validator(mode="after")
    def _unique_ids(self) -> Sop:
        ids = [b.id for b in self.branches]
        if len(ids) != len(set(ids)):
            raise ValueError(f"SOP {self.type}: branch ids must be unique")
        actions = [a.id for a in self.actions]
        if len(actions) != len(set(actions)):
            raise ValueError(f"SOP {self.type}: action ids must be unique")
        return self


class FormDefaults(BaseModel):
    """What the forms of actions offer when the action does not say."""

    model_config = ConfigDict(extra="forbid")

    dismiss_reasons: list[str] = Field(
        default_factory=list, description="Reasons to pick from when dismissing."
    )
    snooze_choices: list[timedelta] = Field(
        default_factory=list, description="Lengths a snooze offers besides its own."
    )


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    sops: list[Sop]
    forms: FormDefaults = Field(
        default_factory=FormDefaults,
        description="Reasons and snooze lengths every action's form offers unless it says.",
    )
    dunning: DunningCatalog = Field(
        default_factory=DunningCatalog,
        description="The e-mails the stripe.dunning_email step sends the payer.",
    )
    recovery: RecoveryCatalog = Field(
        default_factory=RecoveryCatalog,
        description="Decline codes by class and each class's retry plan (canary.recovery.plans).",
    )

    @model_validator(mode="after")
    def _check(self) -> Catalog:
        types = [s.type for s in self.sops]
        dupes = {t for t in types if types.count(t) > 1}
        if dupes:
            raise ValueError(f"duplicate SOP types: {sorted(dupes)}")
        if "unknown" not in types:
            raise ValueError("the catalog needs an 'unknown' SOP for errors no SOP matches")
        for sop in self.sops:
            for action in sop.every_action():
                if action.closes_as == "dismissed" and "reasons" not in action.model_fields_set:
                    action.reasons = list(self.forms.dismiss_reasons)
                if (
                    action.snooze_for is not None
                    and "snooze_choices" not in action.model_fields_set
                ):
                    action.snooze_choices = list(self.forms.snooze_choices)
            for name in sop.enrich:
                if name not in ENRICHERS:
                    raise ValueError(f"SOP {sop.type}: unknown enricher {name!r}")
            for step in sop.every_step():
                email = step.params.get("email") if step.action == "stripe.dunning_email" else None
                if email is not None and self.dunning.get(str(email)) is None:
                    raise ValueError(
                        f"SOP {sop.type}: step {step.id} sends dunning e-mail {email!r}, which "
                        "the catalog's dunning section does not list"
                    )
        return self

    def get(self, error_type: str) -> Sop | None:
        return next((s for s in self.sops if s.type == error_type), None)

    @property
    def unknown(self) -> Sop:
        sop = self.get("unknown")
        assert sop is not None
        return sop
