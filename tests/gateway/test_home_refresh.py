"""Homes kept current on a live stack without anyone opening them: a new alert publishes the
Homes of its owner (Alice) and of RevOps (Dan), never an outsider's (Carol); a dismissal
publishes them again with it closed; and a Home lists a remediation from the entry in its
memo, so it is listed even when no worker can answer for it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities import Services, home
from activities.home import HomeRefresher, listed_statuses, publish_home
from canary.models import AccountRef, ActionRequest, Detection, RemediationStatus, Subject
from canary.models.home import HomeChanged, HomePeople, carried, memo_of
from canary.settings import Settings
from starter.intake import STATUS_QUERY_TIMEOUT, submit_detection, take_action
from tests.gateway.test_home_tab import ALICE, CAROL, DAN, headline_listed, publishes, section_of
from tests.gateway.test_socket_mode import alert
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from worker import build_worker, remediation_activities

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveStack]:
    # Rounds a second apart rather than half a minute: the test makes two changes.
    monkeypatch.setattr(home, "REFRESH_EVERY", 1.0)
    async with live_stack(dev_env.client, worker=False) as live:
        yield live


async def home_of(stack: LiveStack, user: str) -> dict[str, object]:
    views = await stack.sandbox_get("/_sandbox/slack/views", user=user)
    return dict(views.get("home") or {})


async def test_homes_follow_a_remediation_nobody_opened_them_for(stack: LiveStack) -> None:
    activities = remediation_activities(Services(stack.settings, temporal=stack.client))
    async with build_worker(stack.client, stack.settings, activities=activities):
        _, workflow_id, _ = await alert(stack)
        for user in (ALICE, DAN):
            home = await eventually(
                lambda user=user: home_of(stack, user),
                lambda h: section_of(h, workflow_id) == "Waiting for you",
                timeout=30,
            )
            assert home["type"] == "home"
        assert not await stack.requests(service="slack", path="/_sandbox/slack/home/open")

        await take_action(
            stack.client,
            workflow_id,
            ActionRequest(action="dismiss", user="ops", source="cli", reason="Written off"),
        )
        for user in (ALICE, DAN):
            await eventually(
                lambda user=user: home_of(stack, user),
                lambda h: (
                    section_of(h, workflow_id) is None
                    and headline_listed(h, "Written off") == "Closed this week"
                ),
                timeout=30,
            )
        assert await publishes(stack, CAROL) == 0, "an outsider's Home is never published"
        # A change the worker has not published yet when it stops.
        _, waiting, _ = await alert(stack)

    # The worker is gone, and its Homes' refresher with it: nothing of it calls Slack now.
    await asyncio.sleep(0)
    running = [t for t in asyncio.all_tasks() if "HomeRefresher" in repr(t.get_coro())]
    assert not [t for t in running if not t.done()]
    # Nothing can answer a status query; the memo still lists it.
    listed = {s.workflow_id: s for s in await listed_statuses(stack.client, datetime.now(UTC))}
    assert listed[workflow_id].close_reason == "Written off"
    assert listed[workflow_id].timeline == [], "the entry, not the status"
    # Alice opens her Home now: the open one is asked for its status (nobody answers) for a
    # few seconds at most, then shown as its entry says. The guard is a hang check, below
    # the status query's own bound that a Home would otherwise wait for.
    services = stack.services()
    published = await asyncio.wait_for(
        publish_home(stack.client, services.slack, [ALICE], None),
        timeout=STATUS_QUERY_TIMEOUT.total_seconds() - 1,
    )
    assert published == [ALICE]
    assert section_of(await home_of(stack, ALICE), waiting) == "Waiting for you"

    # A round of a refresher: each change carries its entry. One is of a remediation the
    # listing does not hold (visibility lags its start) and nobody could answer for: it is
    # shown as it came. The other is older than the listing's entry of its remediation and
    # loses to it.
    listed_now = await listed_statuses(stack.client, datetime.now(UTC))
    now = datetime.now(UTC)
    paid = listed_now[0].model_copy(
        update={
            "workflow_id": "payment_failed:invoice:in_NotListedYet",
            "started_at": now,
            "updated_at": now,
            "state": "resolved",
            "outcome": "resolved_externally",
            "close_reason": "Paid by wire",
            "owner_slack_user": ALICE,
        }
    )
    stale = listed_now[0].model_copy(
        update={
            "updated_at": listed_now[0].updated_at - timedelta(minutes=5),
            "headline": "An older entry",
        }
    )
    refresher = HomeRefresher(stack.services(temporal=stack.client), delay=0.01, every=0.01)
    for entry in (paid, stale):
        refresher.changed(
            HomeChanged(
                workflow_id=entry.workflow_id,
                updated_at=entry.updated_at,
                people=HomePeople(user_ids=[ALICE]),
                entry=carried(memo_of(entry)),
            )
        )
    home = await eventually(
        lambda: home_of(stack, ALICE),
        lambda h: headline_listed(h, "Paid by wire") == "Closed this week",
        timeout=10,
    )
    assert headline_listed(home, "Written off") == "Closed this week"
    assert headline_listed(home, "An older entry") is None
    refresher.close()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The workflow ids each call of ``asked_statuses`` asked for their status, in order."""
    calls: list[list[str]] = []
    ask = home.asked_statuses

    async def recorded(client: Client, workflow_ids: list[str]) -> dict[str, RemediationStatus]:
        calls.append(list(workflow_ids))
        return await ask(client, workflow_ids)

    monkeypatch.setattr(home, "asked_statuses", recorded)
    return calls


async def test_a_home_opened_asks_only_the_remediations_it_can_show(
    stack: LiveStack, asked: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a Home asks its open remediations for their status (a replay each, for one the
    worker no longer caches), but no more of them than a view can show, first listed first:
    with room for one, only the first of those waiting is asked."""
    monkeypatch.setattr(home, "ASKED_AT_MOST", 1)
    activities = remediation_activities(Services(stack.settings, temporal=stack.client))
    async with build_worker(stack.client, stack.settings, activities=activities):
        waiting = {(await alert(stack))[1], (await alert(stack))[1]}
        await eventually(
            lambda: listed_statuses(stack.client, datetime.now(UTC)),
            lambda ls: waiting <= {s.workflow_id for s in ls},
        )
        asked.clear()
        services = stack.services()
        assert await publish_home(stack.client, services.slack, [ALICE], None) == [ALICE]
    blocks = json.dumps((await home_of(stack, ALICE))["blocks"])
    # Earlier tests' remediations share the server: the first listed may be one of theirs.
    listed = await listed_statuses(stack.client, datetime.now(UTC))
    shown = sorted((s.workflow_id for s in listed if s.workflow_id in blocks), key=blocks.index)
    assert waiting <= set(shown)
    # Listings ask those that keep no entry too (other tests' remediations may not), and the
    # worker's refresher lists meanwhile: the Home's own call is the one of the first listed.
    assert shown[:1] in asked, "the first listed is asked, alone"
    assert not [c for c in asked if waiting <= set(c)], "the others do not fit: not asked"


async def test_a_refresher_round_asks_no_remediation_for_its_status(
    stack: LiveStack, asked: list[list[str]]
) -> None:
    """A remediation whose first task has not run keeps no Home entry yet. A Home opened asks
    it for its status; a refresher's round (``asked=False``) does not: its own change brings
    its entry, and in a burst asking would cost a query (a replay, for one the worker no
    longer caches) of every new remediation visibility lists before its memo."""
    # On a task queue no worker serves: listed, and nothing ever answers for it.
    nobody = stack.settings.model_copy(update={"task_queue": f"nobody-{uuid.uuid4().hex[:8]}"})
    detection = Detection(
        source="monitor",
        subject=Subject(kind="job_run", id=f"no-entry-{uuid.uuid4().hex[:8]}"),
        message="Nightly export failed",
    )
    submitted = await submit_detection(stack.client, detection, nobody)
    await eventually(
        lambda: stack.client.count_workflows(f"WorkflowId = '{submitted.workflow_id}'"),
        lambda found: found.count == 1,
    )
    services = stack.services()
    await publish_home(stack.client, services.slack, [ALICE], None, asked=False)
    assert not [c for c in asked if submitted.workflow_id in c], "a round asked it"

    await publish_home(stack.client, services.slack, [ALICE], None)
    assert [c for c in asked if submitted.workflow_id in c], "an opened Home asks it"
    await stack.client.get_workflow_handle(submitted.workflow_id).terminate("test over")


async def test_a_storm_of_changes_publishes_each_home_once_a_round() -> None:
    rounds: list[tuple[float, HomePeople, dict[str, str]]] = []

    class Recording(HomeRefresher):
        async def _publish(self, people: HomePeople, changed: dict[str, HomeChanged]) -> None:
            entries = {i: c.read() for i, c in changed.items()}
            headlines = {i: e.headline for i, e in entries.items() if e is not None}
            rounds.append((asyncio.get_running_loop().time(), people, headlines))

    refresher = Recording(Services(Settings()), delay=0.05, every=0.5)

    def change(workflow_id: str, user: str, headline: str) -> None:
        now = datetime.now(UTC)
        entry = RemediationStatus(
            workflow_id=workflow_id,
            error_type="unknown",
            state="awaiting_human",
            subject=Subject(kind="job_run", id=workflow_id),
            subject_id=workflow_id,
            account=AccountRef(),
            headline=headline,
            started_at=now,
            updated_at=now,
        )
        refresher.changed(
            HomeChanged(
                workflow_id=workflow_id,
                updated_at=now,
                people=HomePeople(user_ids=[user]),
                entry=carried(memo_of(entry)),
            )
        )

    change("w1", "U0ALICE", "first")
    await eventually(lambda: asyncio.sleep(0, len(rounds)), lambda n: n == 1, timeout=5)
    # A storm: forty changes right after a round are one more round, not forty, with each
    # remediation's latest entry.
    for i in range(40):
        change(f"w{i % 4}", "U0DAN" if i % 2 else "U0ALICE", f"change {i}")
        await asyncio.sleep(0.005)
    await eventually(lambda: asyncio.sleep(0, len(rounds)), lambda n: n == 2, timeout=5)
    await asyncio.sleep(0.6)
    assert len(rounds) == 2, "nothing left over after the storm's round"
    (first, alone, entries1), (second, both, entries2) = rounds
    assert alone.user_ids == ["U0ALICE"] and entries1 == {"w1": "first"}
    assert sorted(both.user_ids) == ["U0ALICE", "U0DAN"]
    assert entries2 == {"w0": "change 36", "w1": "change 37", "w2": "change 38", "w3": "change 39"}
    assert second - first >= 0.5
