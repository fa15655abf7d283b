"""An in-process Canary stack for integration tests: the sandbox (its own thread), the
gateway (uvicorn on the test loop), a worker with the real activities, a real dev server."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities import Services
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from sandbox.warehouse_seed import seed_warehouse
from starter.gateway.app import create_app
from tests.helpers import free_port
from worker import build_worker, remediation_activities

SIGNING_SECRET = "e2e-slack-signing-secret"
WEBHOOK_SECRET = "whsec_e2e_webhook_secret"
API_TOKEN = "e2e-api-token-0123456789abcdef01234"
STRIPE_KEY = "sk_test_canary_e2e"
SLACK_TOKEN = "xoxb-canary-e2e"


@dataclass
class LiveStack:
    client: Client
    settings: Settings
    sandbox: SandboxServer
    gateway_url: str
    http: httpx.AsyncClient
    #: The Services a test built with ``services()``, closed with the stack.
    built: list[Services] = field(default_factory=list)

    def services(self, **adapters: Any) -> Services:
        """Services on the stack's settings (with ``adapters`` in place of the settings'),
        as a test calls activities outside the worker; closed (their Slack session) with the
        stack."""
        self.built.append(Services(self.settings, **adapters))
        return self.built[-1]

    async def close(self) -> None:
        for services in self.built:
            await services.close()

    @property
    def stripe(self) -> stripe.StripeClient:
        return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": self.sandbox.url})

    async def sandbox_get(self, route: str, **params: Any) -> Any:
        response = await self.http.get(f"{self.sandbox.url}{route}", params=params)
        response.raise_for_status()
        return response.json()

    async def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return list(await self.sandbox_get("/_sandbox/requests", **filters))

    async def messages(self, channel: str) -> list[dict[str, Any]]:
        return list(await self.sandbox_get("/_sandbox/slack/messages", channel=channel))

    async def click(
        self,
        user: str,
        message: dict[str, Any],
        action_id: str,
        value: str | None = None,
        selected: str | None = None,
    ) -> dict[str, Any]:
        block_id = None
        for block in message.get("blocks", []):
            elements = block.get("elements") or (
                [block["accessory"]] if "accessory" in block else []
            )
            if any(e.get("action_id") == action_id for e in elements):
                block_id = block.get("block_id")
                if value is None:
                    value = next(
                        e.get("value") for e in elements if e.get("action_id") == action_id
                    )
        body: dict[str, Any] = {
            "user": user,
            "channel": message["channel"],
            "ts": message["ts"],
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
        }
        if selected is not None:
            body["selected_option"] = selected
        response = await self.http.post(f"{self.sandbox.url}/_sandbox/slack/click", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def command(self, user: str, text: str, channel: str = "gtm-alerts") -> dict[str, Any]:
        """Type ``/canary <text>`` as ``user`` in ``channel``: the app's status and answer."""
        response = await self.http.post(
            f"{self.sandbox.url}/_sandbox/slack/command",
            json={"user": user, "channel": channel, "text": f"/canary {text}"},
        )
        response.raise_for_status()
        return dict(response.json())

    async def shortcut(
        self, user: str, callback_id: str, message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Use one of the app's shortcuts as ``user``: on ``message`` (a message shortcut)
        or from the message box (a global one). The app's status and answer."""
        body: dict[str, Any] = {"user": user, "callback_id": callback_id}
        if message is not None:
            body |= {"channel": message["channel"], "ts": message["ts"]}
        response = await self.http.post(f"{self.sandbox.url}/_sandbox/slack/shortcut", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def form(self, user: str) -> dict[str, Any] | None:
        """The modal ``user`` has open on top (a button that asks first opened it)."""
        views = await self.sandbox_get("/_sandbox/slack/views", user=user)
        return views["modals"][-1] if views["modals"] else None

    async def submit(self, user: str, values: dict[str, Any]) -> dict[str, Any]:
        """Submit ``user``'s open modal with ``values`` (block id → text, option or date)."""
        from tests.helpers import eventually

        modal = await eventually(lambda: self.form(user), lambda found: found is not None)
        assert modal is not None
        response = await self.http.post(
            f"{self.sandbox.url}/_sandbox/slack/views/submit",
            json={"user": user, "view_id": modal["id"], "values": values},
        )
        return dict(response.json())


@asynccontextmanager
async def live_stack(
    env_client: Client,
    worker: bool = True,
    stripe_events_version: str | None = "2024-06-20",
    stripe_events: tuple[str, ...] = ("*",),
    **overrides: Any,
) -> AsyncIterator[LiveStack]:
    """``worker=False`` leaves the task queue to a worker the test runs itself (a process).

    ``stripe_events_version`` is the API version of the sandbox's webhook endpoint (None: the
    account's, today's). In 2024-06-20 a payment intent's and a charge's failure name their
    invoice, so the three events of one declined attempt fold into one remediation.
    ``stripe_events`` are the events the endpoint is enabled for (every one by default)."""
    sandbox = SandboxServer(SandboxConfig(slack_signing_secret=SIGNING_SECRET))
    sandbox.start()
    # The product warehouse beside the sandbox's services, seeded as `canary up` seeds it
    # (the product accounts a report names are confirmed there).
    data = tempfile.TemporaryDirectory(prefix="canary-stack-")
    if "warehouse_url" not in overrides:
        overrides["warehouse_url"] = f"sqlite:///{Path(data.name) / 'warehouse.db'}"
        seed_warehouse(overrides["warehouse_url"])
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=sandbox.url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_dashboard_url=f"{sandbox.url}/dashboard",
        slack_bot_token=SLACK_TOKEN,
        slack_api_url=f"{sandbox.url}/api/",
        slack_signing_secret=SIGNING_SECRET,
        api_token=API_TOKEN,
        salesforce_instance_url=sandbox.url,
        salesforce_access_token="00DSANDBOX!e2e-session",
        **overrides,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, temporal=env_client),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        # Idle connections are let go well before uvicorn closes them (after 5 s, httpx's
        # own default): a request sent on one the server is closing fails with ReadError.
        keepalive = httpx.Limits(keepalive_expiry=1.0)
        async with httpx.AsyncClient(timeout=30, limits=keepalive) as http:
            await http.post(
                f"{sandbox.url}/_sandbox/config",
                json={
                    "slack_interactivity_url": f"{gateway_url}/slack/actions",
                    "slack_command_url": f"{gateway_url}/slack/commands",
                },
            )
            stripe.StripeClient(
                STRIPE_KEY, base_addresses={"api": sandbox.url}
            ).v1.webhook_endpoints.create(
                params={  # type: ignore[typeddict-unknown-key]
                    "url": f"{gateway_url}/webhooks/stripe",
                    "enabled_events": list(stripe_events),
                    "secret": WEBHOOK_SECRET,
                    **({"api_version": stripe_events_version} if stripe_events_version else {}),
                }
            )
            live = LiveStack(env_client, settings, sandbox, gateway_url, http)
            try:
                if not worker:
                    yield live
                    return
                activities = remediation_activities(Services(settings, temporal=env_client))
                async with build_worker(env_client, settings, activities=activities):
                    yield live
            finally:
                await live.close()
    finally:
        # Every sandbox numbers its records alike, and remediation ids are per subject: leave
        # none running for a later test on this server to fold into once this worker is gone.
        running = f"TaskQueue = '{settings.task_queue}' AND ExecutionStatus = 'Running'"
        async for execution in env_client.list_workflows(running):
            try:
                await env_client.get_workflow_handle(execution.id).terminate("test finished")
            except RPCError as err:
                # Visibility lags: one listed as running may have closed meanwhile.
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
        server.should_exit = True
        await serving
        sandbox.stop()
        data.cleanup()
