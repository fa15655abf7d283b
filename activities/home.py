"""Publishing people's Home tabs: who the person is on Slack, their remediations from
Temporal, the view (:mod:`canary.blocks.home`), ``views.publish``.

The remediations are read from Temporal's visibility store (running ones, and those closed in
the last week, at most :data:`MAX_LISTED`) and each one's status by query, a few at a time.
The gateway's ``app_home_opened`` listener calls :func:`publish_home` too, for the opener.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client

from activities.calls import call
from activities.services import Services
from activities.windows import open_windows
from canary import search_attributes as sa
from canary.adapters import SlackAdapter
from canary.blocks.home import CLOSED_FOR, Person, home_view
from canary.models import RemediationStatus

log = logging.getLogger(__name__)
#: The most remediations one Home reads; the view itself shows at most what fits.
MAX_LISTED = 500
#: Status queries in flight at once.
QUERIES_AT_ONCE = 16


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


async def listed_statuses(client: Client, now: datetime) -> list[RemediationStatus]:
    """The status of each remediation a Home may list (bounded by :data:`MAX_LISTED`)."""
    from starter.intake import get_status  # starter imports the workflows, which import us

    ids = [e.id async for e in client.list_workflows(home_query(now), limit=MAX_LISTED)]
    semaphore = asyncio.Semaphore(QUERIES_AT_ONCE)

    async def one(workflow_id: str) -> RemediationStatus | None:
        async with semaphore:
            try:
                return await get_status(client, workflow_id)
            except Exception as exc:  # noqa: BLE001 - one unreadable run leaves the rest
                log.warning("home: could not read %s: %s", workflow_id, exc)
                return None

    found = await asyncio.gather(*(one(i) for i in dict.fromkeys(ids)))
    return [s for s in found if s is not None]


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
    statuses: list[RemediationStatus] | None = None,
) -> list[str]:
    """Build and publish each person's Home; the ids published."""
    now = datetime.now(UTC)
    if statuses is None:
        statuses = await listed_statuses(client, now)
    windows = await open_windows(client)
    published: list[str] = []
    for user_id in dict.fromkeys(user_ids):
        who = await person(slack, user_id, statuses)
        await call(slack.publish_home, user_id, home_view(who, statuses, windows, now, more_url))
        published.append(user_id)
    return published


class HomeActivities:
    def __init__(self, services: Services) -> None:
        self.services = services

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
