"""`/docs` (gateway) and `/_sandbox/docs` (sandbox) in Debian's headless Chromium: Swagger UI,
served by each app itself, draws every operation of the app's OpenAPI, and the page fetched
nothing from anywhere but the app (no CDN), so it works offline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI

from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from starter.gateway.app import create_app
from tests.browser.chromium import LOCAL_HOSTS, chromium, page_requests, parse
from tests.stack import free_port

#: Long enough for Swagger UI to fetch the OpenAPI document and draw it.
RENDER_BUDGET_MS = 20_000


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[tuple[FastAPI, str]]:
    """The gateway's app and its URL."""
    port = free_port()
    app = create_app(Settings(), temporal=None)
    # No lifespan: the docs need no Temporal.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def drawn_paths(tmp_path: Path, url: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The operations' paths Swagger UI drew, and every request the page made."""
    net_log = tmp_path / f"net-{urlsplit(url).port}.json"
    rendered = await chromium(
        tmp_path, url, f"--log-net-log={net_log}",
        f"--virtual-time-budget={RENDER_BUDGET_MS}", "--dump-dom",
    )  # fmt: skip
    dom = parse(rendered.stdout)
    paths = {n.attrs["data-path"] for n in dom.all("span", cls="opblock-summary-path")}
    return paths, page_requests(net_log)


async def test_gateway_docs_render_offline(gateway: tuple[FastAPI, str], tmp_path: Path) -> None:
    app, gateway_url = gateway
    paths, requests = await drawn_paths(tmp_path, f"{gateway_url}/docs")
    assert paths == set(app.openapi()["paths"])
    assert {"/webhooks/stripe", "/slack/actions", "/api/detections", "/healthz"} <= paths
    assert {url for _, url in requests} >= {
        f"{gateway_url}/docs/assets/swagger-ui-bundle.js",
        f"{gateway_url}/openapi.json",
    }
    for kind, url in requests:
        assert urlsplit(url).hostname in LOCAL_HOSTS, (kind, url)


async def test_sandbox_docs_render_offline(tmp_path: Path) -> None:
    with SandboxServer(SandboxConfig(seed=False)) as sandbox:
        paths, requests = await drawn_paths(tmp_path, f"{sandbox.url}/_sandbox/docs")
    assert paths == set(sandbox.app.openapi()["paths"])
    assert {"/api/{method}", "/_sandbox/requests"} <= paths
    assert f"{sandbox.url}/_sandbox/openapi.json" in {url for _, url in requests}
    for kind, url in requests:
        assert urlsplit(url).hostname in LOCAL_HOSTS, (kind, url)
