"""What every part of one remediation run shares: who it is, its input, its state, and the
workflow-side effects of a state change (search attributes, the Temporal UI's details)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import HomeActivities
    from canary import search_attributes as sa
    from canary.blocks import temporal_ui_link
    from canary.models import (
        Diagnosis,
        Outcome,
        QuietWindows,
        RemediationInput,
        RemediationState,
        RemediationStatus,
        SlackRef,
        State,
        TimelineKind,
    )
    from canary.models.field_sets import share_field_sets
    from canary.models.home import (
        HOME_MEMO,
        HomeChanged,
        HomePeople,
        carried,
        entry_of,
        home_entry,
        memo_of,
        shown,
    )
    from canary.models.remediation import without_reported_owner
    from canary.models.shared_parts import share_constant_parts

from workflows.policies import HOME_RETRY, HOME_TIMEOUT


class Remediation:
    """One run of a remediation: the parts of the workflow (investigation, steps, alerting,
    the ladder) each hold this and change ``state`` through it."""

    def __init__(self, input: RemediationInput) -> None:
        info = workflow.info()
        self.workflow_id = info.workflow_id
        # What every key this remediation writes (idempotency, Slack metadata) starts with:
        # the first run's id, so a continued run goes on writing the same keys.
        self.key_prefix = f"{self.workflow_id}/{info.first_execution_run_id[:8]}"
        # What the remediation works on is the report with the people it names taken out
        # (kept as reported in the state): lookups and steps never see them as facts.
        account, facts = without_reported_owner(input.detection, input.from_canary_detector)
        self.detection = input.detection.model_copy(update={"account": account, "facts": facts})
        self.config = input.config
        self.state = input.state or RemediationState.begin(
            input.detection,
            workflow.now(),
            input.owner_email,
            input.signed_by_stripe,
            input.manager_email,
            input.from_canary_detector,
        )
        # Steps that touch money run one at a time: a scheduled retry and a clicked retry
        # must never charge twice, and a double click must execute the fix once.
        self.lock = asyncio.Lock()
        # Set by what arrives while the loop waits or works (a click, a report, a fact), so
        # the loop goes round at once instead of at the next deadline.
        self.wake = False
        self.signals = 0  # signals delivered to this run (each one event in its history)
        #: The quiet windows the investigation read, and the workflow task it ran in: a first
        #: alert made in that same task needs no lookup of its own.
        self.investigated_windows: tuple[datetime, QuietWindows] | None = None
        self._holding_attributes = False
        self._attributes_held = False
        #: The search attributes' values as last synced.
        self._attributes_synced: dict[SearchAttributeKey[Any], Any] | None = None
        #: What the memo's Home entry shows (its JSON) and whose Homes it is on, once read
        #: or written by this run.
        self._home_shown: str | None = None
        self._home_people = HomePeople()
        self._home_read = False
        #: The change a first alert's post carries (its entry without the alert), until
        #: the post is made; then what its activity told the worker (the entry as a Home
        #: shows it, with the alert, and the people), until the memo holds it.
        self._home_posting: tuple[RemediationStatus, HomePeople] | None = None
        self._home_told: tuple[str | None, HomePeople] | None = None
        #: The diagnosis whose SOP parts are the process's shared copies already.
        self._shared_diagnosis: Diagnosis | None = None

    @property
    def first_run(self) -> bool:
        return self.state.run == 1

    def began_at(self) -> datetime:
        """When the remediation began (its first run's start): nothing it posted is older, so
        a retried first alert looks for an earlier post back to then."""
        return min(self.state.started_at, workflow.info().workflow_start_time)

    def key(self, *parts: str | int) -> str:
        """A key this remediation writes: ``<workflow id>/<first run>/<part>/…``."""
        return "/".join([self.key_prefix, *(str(p) for p in parts)])

    def keep_lean(self) -> None:
        """Before it waits: what this run keeps shares what other remediations hold the same,
        its pinned diagnosis's SOP parts (``canary.models.shared_parts``, once per diagnosis)
        and its models' sets of field names (``canary.models.field_sets``)."""
        diagnosis = self.state.diagnosis
        if diagnosis is not None and diagnosis is not self._shared_diagnosis:
            share_constant_parts(diagnosis)
            self._shared_diagnosis = diagnosis
        share_field_sets(
            self.state, self.detection, self.config, self._home_people, self.investigated_windows
        )

    # -- state changes ---------------------------------------------------------------------

    def record(
        self,
        kind: TimelineKind,
        text: str,
        actor: str = "canary",
        data: dict[str, Any] | None = None,
        thread: bool = True,
    ) -> None:
        self.state.record(workflow.now(), kind, text, actor=actor, data=data, thread=thread)

    def set_state(self, state: State) -> None:
        if self.state.set_state(workflow.now(), state):
            self.sync_search_attributes()

    def close(
        self, outcome: Outcome, actor: str, text: str, evidence: dict[str, Any] | None = None
    ) -> None:
        if self.state.close(workflow.now(), outcome, actor, text, evidence):
            self.sync_search_attributes()

    def apply_external(self) -> None:
        """Handle the outside facts received (one may resolve the remediation)."""
        self.state.apply_external(workflow.now())
        self.sync_search_attributes()

    # -- what it shows -----------------------------------------------------------------------

    def status(self) -> RemediationStatus:
        return self.state.status(self.workflow_id, self.detection)

    def show_details(self) -> None:
        """The Temporal UI's 'current details' panel."""
        workflow.set_current_details(self.state.details(self.detection))

    def temporal_url(self) -> str:
        return temporal_ui_link(
            self.config.temporal_ui_url, self.config.namespace, self.workflow_id
        )

    # -- the Home tab ------------------------------------------------------------------------

    async def sync_home(self) -> None:
        """Keep the Home entry in the memo and, when what a Home shows of this remediation
        changed and no Slack activity told the worker already, have the worker publish the
        Homes it is on (a local activity)."""
        change = self.home_change()
        if change is None:
            return
        try:
            await workflow.execute_local_activity_method(
                HomeActivities.home_changed,
                change,
                start_to_close_timeout=HOME_TIMEOUT,
                retry_policy=HOME_RETRY,
            )
        except FailureError:
            pass  # the worker logged why; a Home is rebuilt whenever its person opens it

    def home_change(self) -> HomeChanged | None:
        """Keep the Home entry in the memo; when what a Home shows of this remediation changed,
        the change the worker is to be told of: the entry, and the people it concerns now
        and those it concerned before (a new owner's Home gains it, the previous one's loses
        it). None when no Home shows a difference, nobody's Home shows it, or the first
        alert's activity told the worker of this very change (:meth:`home_posting`).

        An alert's update and an escalation hand the change to their Slack activity (one
        local activity where there would be two); ``sync_home`` tells the worker of what
        changed otherwise, in a local activity of its own."""
        entry = home_entry(self.status())
        self._read_home()
        now_shown = shown(entry)
        told, self._home_told = self._home_told, None
        self._home_posting = None
        if now_shown == self._home_shown:
            return None
        before, self._home_people = self._home_people, HomePeople.of(entry)
        self._home_shown = now_shown
        memo = memo_of(entry)
        workflow.upsert_memo({HOME_MEMO: memo})
        people = before.union(self._home_people)
        if people.nobody or told == (now_shown, people):
            return None
        return HomeChanged(
            workflow_id=self.workflow_id,
            updated_at=entry.updated_at,
            people=people,
            entry=carried(memo),
        )

    def home_posting(self) -> HomeChanged | None:
        """The change the first alert's post is to make to the Home entry, before the post:
        the entry as it will be save for the alert's ref, which Slack gives. The post's
        activity fills the ref in and tells the worker (:meth:`HomeChanged.with_alert`);
        the memo keeps the entry once the post is made (``sync_home``). None when nobody's
        Home shows it."""
        entry = home_entry(self.status())
        self._read_home()
        people = self._home_people.union(HomePeople.of(entry))
        self._home_posting = None
        if people.nobody:
            return None
        self._home_posting = (entry, people)
        return HomeChanged(
            workflow_id=self.workflow_id,
            updated_at=entry.updated_at,
            people=people,
            entry=carried(memo_of(entry)),
        )

    def home_posted(self, alert: SlackRef) -> None:
        """The first alert is posted as ``alert``, and its activity told the worker of the
        change :meth:`home_posting` gave it: the next ``home_change`` that finds the same
        keeps the memo without telling the worker again."""
        if self._home_posting is None:
            return
        entry, people = self._home_posting
        self._home_posting = None
        self._home_told = (shown(entry.model_copy(update={"slack": alert})), people)

    def _read_home(self) -> None:
        """A continued run starts from what the previous run left in the memo."""
        if self._home_read:
            return
        previous = entry_of(workflow.memo_value(HOME_MEMO, None))
        self._home_shown = shown(previous)
        self._home_people = HomePeople.of(previous) if previous else HomePeople()
        self._home_read = True

    # -- search attributes -------------------------------------------------------------------

    def hold_search_attributes(self) -> None:
        """Until released, changes are gathered into one upsert (each is a history event
        and a visibility write): a new remediation learns several on its way to the alert."""
        self._holding_attributes = True

    def release_search_attributes(self) -> None:
        held, self._holding_attributes = self._attributes_held, False
        self._attributes_held = False
        if held:
            self.sync_search_attributes()

    def sync_search_attributes(self) -> None:
        """Upsert the search attributes whose values changed."""
        if not self.config.search_attributes:
            return
        if self._holding_attributes:
            self._attributes_held = True
            return
        state, diagnosis = self.state, self.state.diagnosis
        subject = self.detection.subject
        wanted: dict[SearchAttributeKey[Any], Any] = {
            sa.STATE: state.state,
            sa.ESCALATION_LEVEL: state.escalation_level,
            sa.SUBJECT: f"{subject.kind}:{subject.id}",
        }
        if diagnosis:
            wanted[sa.ERROR_TYPE] = diagnosis.error_type
            wanted[sa.SEVERITY] = diagnosis.severity
            if diagnosis.signature:
                wanted[sa.SIGNATURE] = diagnosis.signature
        private = self.config.ids_only_in_search
        account = state.account.id_key() if private else state.account.key()
        if account:
            wanted[sa.ACCOUNT] = account[:200]
        owner = state.owner.email or state.account.owner_email
        if owner and not private:
            wanted[sa.OWNER] = owner
        if wanted == self._attributes_synced:
            return  # most changes change none of them
        self._attributes_synced = wanted
        current = workflow.info().typed_search_attributes
        changed = [key.value_set(v) for key, v in wanted.items() if current.get(key) != v]
        if changed:
            workflow.upsert_search_attributes(changed)
