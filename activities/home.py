"""Publishing people's Home tabs: who the person is on Slack, their remediations from
Temporal, the view (:mod:`canary.blocks.home`), ``views.publish``.

The remediations are read from Temporal's visibility store in one listing (running ones, and
those closed in the last week, at most :data:`MAX_LISTED`), each with the Home entry it keeps
in its memo (:mod:`canary.models.home`); one without an entry is asked for its status.

Homes are published when a person opens theirs (the gateway's ``app_home_opened`` listener)
and whenever a remediation they own or may act on changes: the remediation tells its worker,
with its new entry, within the Slack activity that shows the change (``canary.post_alert``,
``canary.post_escalation``) or, when no Slack message shows it, in a local activity of its
own (``canary.home_changed``); the worker's :class:`HomeRefresher` gathers the changes of a
moment and publishes each person's Home once for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client

from activities.calls import call
from activities.services import Services
from activities.windows import open_windows
from canary import search_attributes as sa
from canary.adapters import SlackAdapter
from canary.blocks.home import CLOSED_FOR, MAX_HOME_BLOCKS, Person, home_content, home_view
from canary.models import RemediationStatus
from canary.models.home import HOME_MEMO, HomeChanged, HomePeople

log = logging.getLogger(__name__)
#: The most remediations one Home reads; the view itself shows at most what fits.
MAX_LISTED = 1000
#: Executions asked for in one page of a listing (Temporal's own default).
PAGE_SIZE = 1000
#: Status queries in flight at once (for remediations without a Home entry).
QUERIES_AT_ONCE = 16
#: The most open remediations a Home being opened asks for their status, in the order it
#: lists them: no view shows more (each takes at least one of Slack's 100 blocks), and each
#: one the worker no longer caches is replayed to answer.
ASKED_AT_MOST = MAX_HOME_BLOCKS
#: How long a Home waits for a remediation's own answer before it shows the entry that
#: remediation keeps in its memo: a worker down (or a task queue nobody serves) must not hold
#: a person's Home for the status query's whole bound.
ASK_TIMEOUT = timedelta(seconds=3)
#: How long a worker gathers remediations' changes before publishing the Homes they touch.
REFRESH_AFTER = 2.0
#: The least time between two rounds of publishing: while changes keep coming (a storm of
#: escalations, a burst of detections), a worker reads the listing and publishes each Home
#: at most this often, however many remediations change meanwhile.
REFRESH_EVERY = 30.0


class PublishHomeInput(BaseModel):
    """Whose Home tabs to publish: Slack user ids, owners' e-mails, or both."""

    user_ids: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)


class PublishHomeOutput(BaseModel):
    published: list[str] = Field(default_factory=list, description="Slack user ids.")
    not_on_slack: list[str] = Field(
        default_factory=list, description="E-mails or ids Slack does not know."
    )


def home_query(now: datetime) -> str:
    """Remediations a Home may list: running ones and those closed since a week ago."""
    since = (now - CLOSED_FOR).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{sa.REMEDIATIONS} AND (ExecutionStatus = 'Running' OR CloseTime > '{since}')"


async def listed_statuses(
    client: Client, now: datetime, *, ask_missing: bool = True
) -> list[RemediationStatus]:
    """Each remediation a Home may list, as its Home entry shows it (bounded by
    :data:`MAX_LISTED`); one that keeps no entry yet is asked for its status, or, without
    ``ask_missing``, left out."""
    entries: dict[str, RemediationStatus | None] = {}
    async for workflow_id, memo in listed_memos(client, home_query(now), HOME_MEMO, MAX_LISTED):
        if workflow_id in entries:
            continue
        try:
            entries[workflow_id] = await decoded(client, memo) if memo is not None else None
        except Exception as exc:  # noqa: BLE001 - an unreadable entry: ask the remediation
            log.warning("home: unreadable entry of %s: %s", workflow_id, exc)
            entries[workflow_id] = None
    if ask_missing:
        missing = [i for i, e in entries.items() if e is None]
        entries.update(await asked_statuses(client, missing))
    return [entry for entry in entries.values() if entry is not None]


async def listed_memos(
    client: Client, query: str, key: str, limit: int
) -> AsyncIterator[tuple[str, Payload | None]]:
    """Each execution the visibility query lists (at most ``limit``): its workflow id and its
    memo's ``key``, still encoded.

    Read from the listing's own pages: the SDK's ``list_workflows`` decodes every search
    attribute of every execution it lists, twice (typed and untyped), and a Home round lists
    up to :data:`MAX_LISTED` of them while the worker runs its remediations; in a storm of
    escalations that was about a twentieth of the worker's time."""
    token = b""
    listed = 0
    while listed < limit:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace,
                page_size=min(PAGE_SIZE, limit - listed),
                next_page_token=token,
                query=query,
            ),
            retry=True,
        )
        for execution in page.executions[: limit - listed]:
            memo = execution.memo.fields
            yield execution.execution.workflow_id, (memo[key] if key in memo else None)
            listed += 1
        token = page.next_page_token
        if not token:
            return


async def decoded(client: Client, payload: Payload) -> RemediationStatus | None:
    """A Home entry as the client's data converter reads it (its codec first, when set);
    None for an entry written as null."""
    (entry,) = await client.data_converter.decode([payload], [RemediationStatus])
    return entry if isinstance(entry, RemediationStatus) else None


async def asked_statuses(client: Client, workflow_ids: list[str]) -> dict[str, RemediationStatus]:
    """The status of each of these remediations, by query, a few at a time (one that cannot
    answer is left out)."""
    from starter.intake import get_status  # starter imports the workflows, which import us

    semaphore = asyncio.Semaphore(QUERIES_AT_ONCE)

    async def asked(workflow_id: str) -> RemediationStatus | None:
        async with semaphore:
            try:
                return await get_status(client, workflow_id, ASK_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - one unreadable run leaves the rest
                log.warning("home: could not read %s: %s", workflow_id, exc)
                return None

    found = await asyncio.gather(*(asked(i) for i in workflow_ids))
    return {s.workflow_id: s for s in found if s is not None}


async def person(slack: SlackAdapter, user_id: str, statuses: list[RemediationStatus]) -> Person:
    """The person as Slack knows them now: e-mail, and which of the groups the remediations'
    actions name they are in (an unreadable group grants nothing)."""
    user = await call(slack.user_info, user_id) or {}
    email = (user.get("profile") or {}).get("email") or user.get("email")
    named = {
        group.lstrip("@")
        for status in statuses
        for action in (status.diagnosis.actions if status.diagnosis else [])
        for group in action.allowed.groups
    }
    member_of: set[str] = set()
    for group in sorted(named):
        try:
            if user_id in await call(slack.usergroup_members, group):
                member_of.add(group)
        except Exception as exc:  # noqa: BLE001 - as the click check: no group, no rights
            log.warning("home: could not read @%s: %s", group, exc)
    return Person(user_id, email, frozenset(member_of))


async def publish_home(
    client: Client,
    slack: SlackAdapter,
    user_ids: list[str],
    more_url: str | None,
    changed: Mapping[str, HomeChanged] | None = None,
    *,
    asked: bool = True,
) -> list[str]:
    """Build and publish each person's Home; the ids published.

    ``changed`` holds the last change of remediations that just changed, with the entry it
    left: one the listing shows older (visibility lags the change that prompted this) or not
    at all is shown as that entry says, without asking it (the entry is read only then).
    With ``asked``, the open remediations on a person's Home are asked for their status
    first, so a Home opened just after a click shows the click (the entries lag it by the
    alert's update), and so is one that keeps no entry yet. Without it nobody is asked: one
    without an entry has not finished its first task, and its own change, entry and all,
    follows (a storm's refresher would otherwise ask each new remediation of a burst while
    visibility lags its memo)."""
    now = datetime.now(UTC)
    statuses = {s.workflow_id: s for s in await listed_statuses(client, now, ask_missing=asked)}
    for workflow_id, change in (changed or {}).items():
        listed = statuses.get(workflow_id)
        if listed is None or listed.updated_at < change.updated_at:
            if (entry := change.read()) is not None:
                statuses[workflow_id] = entry
    windows = await open_windows(client)
    published: list[str] = []
    for user_id in dict.fromkeys(user_ids):
        who = await person(slack, user_id, list(statuses.values()))
        if asked:
            # Closed ones wrote their last entry as they closed (and asking one replays it).
            content = home_content(who, statuses.values(), windows, now)
            listed_open = [*content.waiting, *content.other_open][:ASKED_AT_MOST]
            statuses.update(await asked_statuses(client, [s.workflow_id for s in listed_open]))
        view = home_view(who, statuses.values(), windows, now, more_url)
        await call(slack.publish_home, user_id, view)
        published.append(user_id)
    return published


class HomeRefresher:
    """Publishes the Homes that remediations' changes touch, a moment after the changes.

    The changes of :data:`REFRESH_AFTER` seconds are published together (one listing, each
    changed remediation as its change left it; each person's Home once), and while changes
    keep coming, a round at most every :data:`REFRESH_EVERY` seconds: a listing reads up to
    :data:`MAX_LISTED` entries, which in a storm would otherwise take the worker from its
    remediations. A changed remediation is never asked for its status here: its entry came
    with the change (asking would replay a remediation the worker no longer caches, in a
    storm most of them). It holds the changed entries of one round, as the JSON they came
    in (1 to 2 KB each), and whose Homes to publish. A Home it misses (the worker stopped
    meanwhile, Slack refused) is rebuilt whenever its person opens it."""

    def __init__(
        self, services: Services, delay: float | None = None, every: float | None = None
    ) -> None:
        self.services = services
        self.delay = REFRESH_AFTER if delay is None else delay
        self.every = REFRESH_EVERY if every is None else every
        self._people = HomePeople()
        self._changed: dict[str, HomeChanged] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_round = -math.inf

    def close(self) -> None:
        """Stop with the worker: what was not published yet waits for an opening."""
        if self._task is not None:
            self._task.cancel()
        self._people, self._changed = HomePeople(), {}

    def changed(self, change: HomeChanged) -> None:
        self._people = self._people.union(change.people)
        known = self._changed.get(change.workflow_id)
        if known is None or known.updated_at <= change.updated_at:
            self._changed[change.workflow_id] = change
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # Changes that arrive while Homes are published are published in the next round.
        while not self._people.nobody:
            next_round = max(loop.time() + self.delay, self._last_round + self.every)
            await asyncio.sleep(next_round - loop.time())
            self._last_round = loop.time()
            people, self._people = self._people, HomePeople()
            changed, self._changed = self._changed, {}
            try:
                await self._publish(people, changed)
            except Exception as exc:  # noqa: BLE001 - the next change or opening tries again
                log.warning("home: could not publish the Homes of %s: %s", people, exc)

    async def _publish(self, people: HomePeople, changed: dict[str, HomeChanged]) -> None:
        slack = self.services.slack
        users = list(people.user_ids)
        for email in people.emails:
            found = await call(slack.user_by_email, email)
            if found and found.get("id"):
                users.append(str(found["id"]))
        for group in people.groups:
            try:
                users += await call(slack.usergroup_members, group)
            except Exception as exc:  # noqa: BLE001 - the group's Homes wait for an opening
                log.warning("home: could not read @%s: %s", group, exc)
        if users:
            more_url = self.services.settings.gateway_url.rstrip("/") + "/report"
            client = self.services.require_temporal()
            await publish_home(client, slack, users, more_url, changed, asked=False)


class HomeActivities:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.refresher = HomeRefresher(services)

    def close(self) -> None:
        self.refresher.close()

    @activity.defn(name="canary.home_changed")
    async def home_changed(self, change: HomeChanged) -> None:
        """A remediation's Home entry changed: its people's Homes are published shortly (a
        local activity that only queues the work, so the remediation never waits on it)."""
        self.refresher.changed(change)

    @activity.defn(name="canary.publish_home")
    async def publish_home(self, request: PublishHomeInput) -> PublishHomeOutput:
        """Publish the Home tabs of these people (Slack ids, or owners' e-mails looked up)."""
        slack = self.services.slack
        users, missing = list(request.user_ids), []
        for email in request.emails:
            found = await call(slack.user_by_email, email)
            if found and found.get("id"):
                users.append(str(found["id"]))
            else:
                missing.append(email)
        more_url = self.services.settings.gateway_url.rstrip("/") + "/report"
        done = await publish_home(self.services.require_temporal(), slack, users, more_url)
        return PublishHomeOutput(published=done, not_on_slack=missing)
