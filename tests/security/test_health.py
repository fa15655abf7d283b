"""The gateway's probes tell the truth: /healthz is ready only while Temporal answers (a
load balancer must not send Stripe's webhooks to a gateway that cannot hand them on), /livez
only says the process serves."""

from __future__ import annotations

import socket

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from canary.settings import Settings
from starter.gateway.app import create_app


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def probe(temporal: Client | None) -> tuple[httpx.Response, httpx.Response]:
    app = create_app(Settings(), temporal=temporal)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        return await http.get("/healthz"), await http.get("/livez")


async def test_not_ready_while_temporal_is_not_connected() -> None:
    health, live = await probe(None)
    assert health.status_code == 503
    assert health.json()["ok"] is False and health.json()["temporal"] == "connecting"
    assert live.status_code == 200 and live.json() == {"ok": True}


async def test_not_ready_when_temporal_stops_answering() -> None:
    gone = await Client.connect(f"127.0.0.1:{closed_port()}", lazy=True)
    health, live = await probe(gone)
    assert health.status_code == 503
    assert health.json()["temporal"] == "unreachable"
    assert live.status_code == 200


async def test_ready_when_temporal_answers(dev_env: WorkflowEnvironment) -> None:
    health, _ = await probe(dev_env.client)
    assert health.status_code == 200
    assert health.json()["ok"] is True and health.json()["temporal"] == "connected"
