"""A real HTTP server (uvicorn on a free port, in a thread) serving only the Salesforce router.

The tests reach it through the real simple-salesforce client, exactly as Canary's adapter and
the demo do, so wire details (URLs, trailing slashes, headers, error bodies) are exercised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from simple_salesforce import Salesforce

from sandbox.salesforce import (
    API_VERSION,
    SalesforceState,
    SandboxSalesforceSession,
    create_salesforce_router,
)


@dataclass
class Sandbox:
    state: SalesforceState
    base_url: str

    @property
    def instance_url(self) -> str:
        return self.base_url.replace("http://", "https://", 1)

    def session(self) -> SandboxSalesforceSession:
        return SandboxSalesforceSession(self.base_url)

    def client(self, token: str = "00DHx0000000001!test-session") -> Salesforce:
        return Salesforce(
            instance_url=self.instance_url,
            session_id=token,
            session=self.session(),
            version=API_VERSION,
        )


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    state = SalesforceState()
    app = FastAPI()
    app.include_router(create_salesforce_router(state))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="salesforce-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the Salesforce sandbox server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Sandbox(state, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """A freshly seeded org for every test (same ids every time)."""
    sandbox_server.state.reset()
    return sandbox_server


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    return sandbox.client()
