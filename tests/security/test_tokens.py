"""Scoped tokens, tried the way someone holding one token (or none) would try them.

An intake token writes detections and reads nothing; a read token reads remediations, the
report's JSON and the dashboard and writes nothing; `CANARY_API_TOKEN` does both. Whatever a
client puts in `Authorization` (non-ASCII bytes, a megabyte, an empty value, a scheme without
a token, the right token under the wrong scheme), the answer is a 401 with
`WWW-Authenticate`, never a 500. A token shorter than 32 characters stops Canary at start-up
with the variable's name.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.settings import TOKEN_MIN_LENGTH, InvalidTokenError, Settings
from starter.gateway.app import create_app
from starter.stack import Ports, Stack
from tests.fakes import FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow

INTAKE = ["intake-token-zapier-0123456789abcdef", "intake-token-workato-0123456789abcdef"]
READ = ["read-token-dashboard-0123456789abcdef", "read-token-warehouse-0123456789abcdef"]
API = "api-token-of-every-scope-0123456789abcdef"


@dataclass
class Gateway:
    http: httpx.AsyncClient
    remediation: str  # an open remediation the readers read


def detection() -> dict[str, object]:
    return {
        "source": "zapier",
        "subject": {"kind": "zap_run", "id": f"run-{uuid.uuid4().hex[:10]}"},
        "message": "Zap failed: HubSpot returned 502",
    }


@pytest.fixture(scope="module")
async def gateway(dev_env: WorkflowEnvironment) -> AsyncIterator[Gateway]:
    queue = f"tokens-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        task_queue=queue,
        api_token=API,
        intake_tokens=",".join(INTAKE),
        read_tokens=",".join(READ),
    )
    app = create_app(settings, temporal=dev_env.client)
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=FakeServices().all(),
    ):
        # raise_app_exceptions=False: an unhandled error is the 500 a client would see.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            started = await http.post("/api/detections", json=detection(), headers=bearer(API))
            assert started.status_code == 202, started.text
            workflow_id = started.json()["workflow_id"]
            await eventually(
                lambda: http.get(f"/api/remediations/{workflow_id}", headers=bearer(API)),
                lambda r: r.status_code == 200 and r.json()["state"] == "awaiting_human",
            )
            yield Gateway(http, workflow_id)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(password: str | bytes, user: bytes = b"anyone") -> dict[str, bytes]:
    raw = password if isinstance(password, bytes) else password.encode()
    return {"Authorization": b"Basic " + base64.b64encode(user + b":" + raw)}


ROUTES = ["write", "read", "report-json", "dashboard"]


async def call(gateway: Gateway, route: str, headers: dict) -> httpx.Response:
    http = gateway.http
    if route == "write":
        return await http.post("/api/detections", json=detection(), headers=headers)
    if route == "read":
        return await http.get(f"/api/remediations/{gateway.remediation}", headers=headers)
    if route == "report-json":
        return await http.get("/api/report", params={"limit": 5}, headers=headers)
    return await http.get("/report", params={"limit": 5}, headers=headers)


def refused(response: httpx.Response) -> bool:
    return response.status_code == 401 and "www-authenticate" in response.headers


# -- every scope on every route -----------------------------------------------------------------


@pytest.mark.parametrize("token", INTAKE)
async def test_an_intake_token_writes_and_reads_nothing(gateway: Gateway, token: str) -> None:
    written = await call(gateway, "write", bearer(token))
    assert written.status_code == 202, written.text
    for route in ("read", "report-json", "dashboard"):
        response = await call(gateway, route, bearer(token))
        assert refused(response), (route, response.status_code)
    assert refused(await call(gateway, "dashboard", basic(token)))


@pytest.mark.parametrize("token", READ)
async def test_a_read_token_reads_everything_and_writes_nothing(
    gateway: Gateway, token: str
) -> None:
    assert refused(await call(gateway, "write", bearer(token)))
    for route in ("read", "report-json", "dashboard"):
        response = await call(gateway, route, bearer(token))
        assert response.status_code == 200, (route, response.status_code, response.text[:300])
    # A browser signs in to the dashboard with HTTP Basic, the read token as password.
    page = await call(gateway, "dashboard", basic(token))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


async def test_the_api_token_does_both(gateway: Gateway) -> None:
    for route in ROUTES:
        response = await call(gateway, route, bearer(API))
        assert response.status_code in (200, 202), (route, response.status_code)
    assert (await call(gateway, "dashboard", basic(API))).status_code == 200


@pytest.mark.parametrize("route", ROUTES)
async def test_no_token_or_a_wrong_one_is_refused(gateway: Gateway, route: str) -> None:
    assert refused(await call(gateway, route, {}))
    for near_miss in (
        API[:-1],  # a prefix
        API + "x",  # the token and more
        API.upper(),
        f"{INTAKE[0]},{READ[0]}",  # the variable's value, whole
        "x" * len(API),
    ):
        response = await call(gateway, route, bearer(near_miss))
        assert refused(response), (route, near_miss, response.status_code)


# -- what a client can put in Authorization -----------------------------------------------------

HOSTILE_HEADERS: dict[str, bytes] = {
    "non-ASCII (UTF-8)": "Bearer jeton-secret-é-ü-😠-0123456789abcdef".encode(),
    "non-ASCII (Latin-1)": "Bearer clé-très-secrète-0123456789abcdef".encode("latin-1"),
    "the token with a non-ASCII tail": f"Bearer {API}é".encode(),
    "a megabyte": b"Bearer " + b"A" * 1_000_000,
    "a megabyte of non-ASCII": b"Bearer " + "é".encode() * 500_000,
    "empty": b"",
    "only spaces": b"   ",
    "Bearer alone": b"Bearer",
    "Bearer and a space": b"Bearer ",
    "Bearer and spaces": b"Bearer       ",
    "a control character": b"Bearer \x01\x02\x7f" + API.encode(),
    "the token under another scheme": f"Token {API}".encode(),
    "the token without a scheme": API.encode(),
    "Basic alone": b"Basic",
    "Basic, not base64": b"Basic !!!not-base64!!!",
    "Basic without a colon": b"Basic " + base64.b64encode(API.encode()),
    "Basic with a UTF-8 password": b"Basic " + base64.b64encode(b"u:" + "é".encode() * 40),
    "Basic with a Latin-1 password": b"Basic " + base64.b64encode(b"u:" + "é".encode("latin-1")),
    "Basic, a megabyte": b"Basic " + base64.b64encode(b"u:" + b"A" * 750_000),
    "Digest": f'Digest username="canary", response="{API}"'.encode(),
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("header", list(HOSTILE_HEADERS), ids=list(HOSTILE_HEADERS))
async def test_any_authorization_header_is_a_401_never_a_500(
    gateway: Gateway, route: str, header: str
) -> None:
    response = await call(gateway, route, {"Authorization": HOSTILE_HEADERS[header]})
    assert refused(response), (response.status_code, response.text[:300])


# -- tokens refused at start-up -----------------------------------------------------------------

SHORT = "s" * (TOKEN_MIN_LENGTH - 1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CANARY_API_TOKEN", SHORT),
        ("CANARY_INTAKE_TOKENS", SHORT),
        ("CANARY_INTAKE_TOKENS", f"{INTAKE[0]},{SHORT}"),  # one weak token among good ones
        ("CANARY_READ_TOKENS", f"{READ[0]}, {SHORT}"),
        ("CANARY_READ_TOKENS", "é" * TOKEN_MIN_LENGTH),  # long enough, but cannot be sent
        ("CANARY_INTAKE_TOKENS", f"{INTAKE[0][:20]} {INTAKE[0][20:]}"),  # a space inside
    ],
)
def test_a_weak_token_stops_start_up_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidTokenError) as refusal:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert refusal.value.variable == variable
    message = str(refusal.value)
    assert message.startswith(variable) and str(TOKEN_MIN_LENGTH) in message
    assert SHORT not in message and "é" not in message  # never the secret itself


def test_the_gateway_command_refuses_a_short_token_with_a_clear_message() -> None:
    env = {**os.environ, "CANARY_INTAKE_TOKENS": SHORT}
    env.pop("CANARY_API_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-c", "from starter.cli import main; main()", "gateway", "--port", "9"],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "CANARY_INTAKE_TOKENS is too short" in done.stderr
    assert "Traceback" not in done.stderr and SHORT not in done.stderr


def test_the_demo_generates_an_api_token_long_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CANARY_API_TOKEN", raising=False)
    env = Stack(Ports(), tmp_path).build_env()
    token = env["CANARY_API_TOKEN"]
    assert len(token) >= TOKEN_MIN_LENGTH
    assert Settings(api_token=token).api_token == token


def test_compose_hands_the_scoped_tokens_to_the_gateway_only() -> None:
    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    gateway = compose["services"]["gateway"]["environment"]
    worker = compose["services"]["worker"]["environment"]
    for variable in ("CANARY_INTAKE_TOKENS", "CANARY_READ_TOKENS", "CANARY_API_TOKEN"):
        assert variable in gateway and variable not in worker, variable
