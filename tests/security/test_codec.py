"""Payload encryption, tried as someone with access to Temporal but not to the keys would try it.

With CANARY_PAYLOAD_KEYS set, a remediation's history read with a plain client (what the
Temporal UI, the CLI or a database dump show) holds none of the customer's data in any form;
through the codec (the client factory, replay, export, the codec server) it reads back. A key
is rotated by putting the new one first: histories written under the old key still read, and
without the old key they fail with an error naming the missing key. The codec server decodes
only for a request carrying its own token, and lets browsers in only from the Temporal UI.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.home import listed_statuses
from canary import search_attributes as sa
from canary.client import connect, data_converter
from canary.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    InvalidPayloadKeysError,
    PayloadKey,
    UndecryptablePayloadError,
    parse_payload_keys,
)
from canary.converter import canary_data_converter
from canary.logs import setup_logging
from canary.settings import InvalidTokenError, MissingSettingError, Settings
from starter.codec_server import create_codec_app
from starter.gateway.app import create_app
from starter.intake import get_status
from starter.replay import export_history, history_from_file, replay_histories
from tests.conftest import _binary
from tests.fakes import FakeServices
from tests.helpers import eventually
from tests.stack import free_port
from workflows import RemediationWorkflow

OLD = PayloadKey("2026-06", os.urandom(32))
NEW = PayloadKey("2026-12", os.urandom(32))
API = "api-token-of-the-codec-tests-0123456789abcdef"
CODEC_TOKEN = "codec-token-for-the-temporal-ui-0123456789"
UI = "http://127.0.0.1:8233"

# What the customer's report says; none of it may be readable in Temporal without the key.
EMAIL = "dana.whitfield@quillfeather-bio.example"
CUSTOMER = "Quillfeather Biosciences"
MESSAGE = "Renewal blocked: Quillfeather card ending 4242 declined at checkout"
MARKERS = [EMAIL, CUSTOMER, MESSAGE, "dana.whitfield", "Quillfeather"]


def setting(*keys: PayloadKey) -> str:
    """CANARY_PAYLOAD_KEYS as an operator writes it."""
    return ",".join(f"{key.key_id}:{base64.b64encode(key.key).decode()}" for key in keys)


def detection(subject: str) -> dict[str, Any]:
    return {
        "source": "zapier",
        "subject": {"kind": "zap_run", "id": subject},
        "account": {"name": CUSTOMER, "owner_email": EMAIL},
        "message": MESSAGE,
    }


# -- reading a history the way someone without the keys would ---------------------------------


def texts(node: Any) -> Iterator[str]:
    """Every string in a history's JSON, and what each reads as when base64-decoded (payload
    data and metadata are base64 in Temporal's JSON), search attributes included: Temporal
    indexes them and never encrypts them, so with keys set they carry ids and types only."""
    if isinstance(node, dict):
        for value in node.values():
            yield from texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from texts(value)
    elif isinstance(node, str):
        yield node
        try:
            yield base64.b64decode(node, validate=True).decode("utf-8", "replace")
        except ValueError:
            pass


def readable(history_json: str) -> str:
    return "\n".join(texts(json.loads(history_json))).lower()


def payloads_of(history: WorkflowHistory) -> list[Payload]:
    """Every payload in the history's events (inputs, results, signals, summaries, …)."""
    found: list[Payload] = []

    def walk(message: Any) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if field.name in ("search_attributes", "header"):
                # Headers carry the trace context (ids only) when tracing is on; the SDK does
                # not encode them. The marker scan of the whole history covers them.
                continue
            if hasattr(value, "ListFields"):
                walk(value)
                continue
            if hasattr(value, "items"):  # a map (memo fields, marker details: name -> …)
                # A local activity's marker keeps the SDK's own bookkeeping in "data" (seq,
                # attempt, activity type, times), never encoded; its result is a payload.
                marker = message.DESCRIPTOR.name == "MarkerRecordedEventAttributes"
                value = [item for key, item in value.items() if not (marker and key == "data")]
            for item in value:
                if hasattr(item, "ListFields"):
                    walk(item)

    for event in history.events:
        walk(event)
    return found


# -- a remediation through the gateway and a worker, both on the client factory ---------------


@dataclass
class Deployment:
    client: Client  # from canary.client.connect, with the settings' keys
    settings: Settings
    http: httpx.AsyncClient


def keyed_settings(dev_env: WorkflowEnvironment, queue: str, *keys: PayloadKey) -> Settings:
    return Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace=dev_env.client.namespace,
        task_queue=queue,
        api_token=API,
        payload_keys=setting(*keys),
    )


@asynccontextmanager
async def deployment(
    dev_env: WorkflowEnvironment, queue: str, *keys: PayloadKey
) -> AsyncIterator[Deployment]:
    settings = keyed_settings(dev_env, queue, *keys)
    client = await connect(settings)
    app = create_app(settings, temporal=client)
    async with Worker(
        client, task_queue=queue, workflows=[RemediationWorkflow], activities=FakeServices().all()
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Deployment(client, settings, http)


async def report(live: Deployment, subject: str) -> str:
    answer = await live.http.post(
        "/api/detections", json=detection(subject), headers={"Authorization": f"Bearer {API}"}
    )
    assert answer.status_code == 202, answer.text
    workflow_id: str = answer.json()["workflow_id"]
    return workflow_id


async def awaiting_human(client: Client, workflow_id: str) -> Any:
    return await eventually(
        lambda: get_status(client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
    )


@pytest.fixture(scope="module")
async def encrypted(dev_env: WorkflowEnvironment) -> AsyncIterator[tuple[Deployment, str]]:
    """One remediation opened through the gateway with encryption on."""
    async with deployment(dev_env, f"codec-{uuid.uuid4().hex[:8]}", NEW) as live:
        workflow_id = await report(live, f"run-{uuid.uuid4().hex[:10]}")
        await awaiting_human(live.client, workflow_id)
        yield live, workflow_id


async def test_history_without_the_key_holds_no_customer_data(
    dev_env: WorkflowEnvironment, encrypted: tuple[Deployment, str]
) -> None:
    live, workflow_id = encrypted
    # A plain client: what anyone with Temporal access (UI, CLI, API) downloads.
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    text = readable(history.to_json())
    for marker in MARKERS:
        assert marker.lower() not in text, f"{marker!r} is readable in the history"
    payloads = payloads_of(history)
    assert payloads, "the history has payloads"
    for payload in payloads:
        assert payload.metadata["encoding"] == ENCODING
        assert payload.metadata[KEY_ID_METADATA] == NEW.key_id.encode()


async def test_search_attributes_carry_ids_not_names_or_emails(
    dev_env: WorkflowEnvironment, encrypted: tuple[Deployment, str]
) -> None:
    """A failed payment whose Stripe lookup names its owner: with keys set, the attributes
    anyone with Temporal access can list show the customer's id, never its name or the
    owner's e-mail."""
    live, _ = encrypted
    body = {
        **detection(f"in_{uuid.uuid4().hex[:14]}"),
        "subject": {"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:14]}"},
        "type": "payment_failed",
        "account": {"name": CUSTOMER, "stripe_customer_id": "cus_QUILL0001"},
        "facts": {"decline_code": "insufficient_funds"},
    }
    answer = await live.http.post(
        "/api/detections", json=body, headers={"Authorization": f"Bearer {API}"}
    )
    assert answer.status_code == 202, answer.text
    workflow_id = answer.json()["workflow_id"]
    status = await awaiting_human(live.client, workflow_id)
    assert status.owner == FakeServices.owner_email, "the lookup found the owner"
    described = await dev_env.client.get_workflow_handle(workflow_id).describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.ACCOUNT) == "cus_QUILL0001"
    assert attributes.get(sa.OWNER) is None
    shown = " ".join(str(pair.value) for pair in attributes)
    assert CUSTOMER not in shown and "@" not in shown


async def test_history_reads_back_through_the_codec(
    encrypted: tuple[Deployment, str],
) -> None:
    live, workflow_id = encrypted
    # The gateway and the worker decrypt: the status (a query) shows the customer's data.
    answer = await live.http.get(
        f"/api/remediations/{workflow_id}", headers={"Authorization": f"Bearer {API}"}
    )
    assert answer.status_code == 200
    assert MESSAGE in answer.text and CUSTOMER in answer.text
    # The history's payloads decrypt with the key.
    history = await live.client.get_workflow_handle(workflow_id).fetch_history()
    decoded = await EncryptionCodec([NEW]).decode(payloads_of(history))
    plain = b"\n".join(payload.data for payload in decoded).decode()
    assert EMAIL in plain and CUSTOMER in plain and MESSAGE in plain


async def test_a_home_lists_encrypted_entries_only_with_the_key(
    dev_env: WorkflowEnvironment, encrypted: tuple[Deployment, str]
) -> None:
    """The Home's listing reads each remediation's entry from its memo, encrypted like every
    payload: the worker's client (with the key) reads it; a plain client's listing holds
    none, so a Home built without the key shows nobody's customer."""
    live, workflow_id = encrypted
    listed = await eventually(
        lambda: listed_statuses(live.client, datetime.now(UTC), ask_missing=False),
        lambda statuses: any(s.workflow_id == workflow_id for s in statuses),
    )
    entry = next(s for s in listed if s.workflow_id == workflow_id)
    assert entry.state == "awaiting_human" and entry.timeline == []
    assert CUSTOMER in entry.model_dump_json()
    plain = await listed_statuses(dev_env.client, datetime.now(UTC), ask_missing=False)
    assert workflow_id not in {s.workflow_id for s in plain}


async def test_replay_and_export_of_an_encrypted_history(
    encrypted: tuple[Deployment, str],
) -> None:
    live, workflow_id = encrypted
    exported = await export_history(live.client, workflow_id)
    for marker in MARKERS:  # the exported file stays encrypted
        assert marker.lower() not in readable(exported)
    history = WorkflowHistory.from_json(workflow_id, json.loads(exported))
    [with_keys] = await replay_histories(
        [(history, "export")], converter=data_converter(live.settings)
    )
    assert with_keys.ok, with_keys.reason
    # The keys are what makes it replay: the plain converter cannot read the payloads.
    [without] = await replay_histories([(history, "export")], converter=canary_data_converter)
    assert not without.ok


async def test_rotated_key_reads_old_histories_and_a_removed_key_fails_clearly(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"codec-rotation-{uuid.uuid4().hex[:8]}"
    subject = f"run-{uuid.uuid4().hex[:10]}"
    async with deployment(dev_env, queue, OLD) as before:
        workflow_id = await report(before, subject)
        await awaiting_human(before.client, workflow_id)

    # Rotation: the new key first (it encrypts), the old one kept (it still decrypts). A new
    # worker has nothing cached: it replays the history written under the old key.
    async with deployment(dev_env, queue, NEW, OLD) as after:
        status = await awaiting_human(after.client, workflow_id)
        assert status.account.name == CUSTOMER
        await report(after, subject)  # a second report of the same subject, now under NEW
        status = await eventually(
            lambda: get_status(after.client, workflow_id),
            lambda s: s is not None and s.occurrences >= 2,
        )
        history = await after.client.get_workflow_handle(workflow_id).fetch_history()
        [replayed] = await replay_histories(
            [(history, "temporal")], converter=data_converter(after.settings)
        )
        assert replayed.ok, replayed.reason

    payloads = payloads_of(history)
    used = {payload.metadata[KEY_ID_METADATA] for payload in payloads}
    assert used == {OLD.key_id.encode(), NEW.key_id.encode()}
    decoded = await EncryptionCodec([NEW, OLD]).decode(payloads)
    assert MESSAGE.encode() in b"".join(payload.data for payload in decoded)

    # The old key removed: the history no longer reads, and the error says which key is missing.
    with pytest.raises(UndecryptablePayloadError) as missing:
        await EncryptionCodec([NEW]).decode(payloads)
    assert "2026-06" in str(missing.value) and "CANARY_PAYLOAD_KEYS" in str(missing.value)
    [failed] = await replay_histories(
        [(history, "temporal")], converter=data_converter(keyed_settings(dev_env, queue, NEW))
    )
    assert not failed.ok


async def test_histories_from_before_encryption_still_replay_with_keys_set() -> None:
    """Turning encryption on leaves the histories already in Temporal readable: the codec
    passes payloads it did not encrypt through unchanged."""
    recorded = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))
    assert recorded
    histories = [(history_from_file(path), str(path)) for path in recorded]
    keyed = await replay_histories(
        histories, converter=data_converter(Settings(payload_keys=setting(NEW, OLD)))
    )
    plain = await replay_histories(histories, converter=canary_data_converter)
    # The keys change nothing for them (tests/workflow/test_replay.py says they replay).
    assert [(o.origin, o.result) for o in keyed] == [(o.origin, o.result) for o in plain]
    assert any(o.ok for o in keyed)


# -- the codec server ---------------------------------------------------------------------------


def codec_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "payload_keys": setting(NEW, OLD),
        "codec_token": CODEC_TOKEN,
        "temporal_ui_url": f"{UI}/namespaces/default",
    }
    return Settings(**{**values, **overrides})


@pytest.fixture()
async def codec_http() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: an unhandled error is the 500 a client would see.
    transport = httpx.ASGITransport(
        app=create_codec_app(codec_settings()), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        yield http


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    """Temporal's proto-JSON, as the UI and the CLI send it."""
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


def plain_payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def sealed(text: str, key: PayloadKey = OLD) -> dict[str, Any]:
    return as_json(await EncryptionCodec([key]).encode([plain_payload(text)]))


async def test_codec_server_decodes_with_its_token(codec_http: httpx.AsyncClient) -> None:
    body = await sealed(MESSAGE)  # under the old key: the server holds both
    assert MESSAGE not in json.dumps(body)
    answer = await codec_http.post(
        "/decode",
        json=body,
        headers={"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "default"},
    )
    assert answer.status_code == 200, answer.text
    assert from_json(answer.json()) == [plain_payload(MESSAGE)]

    encoded = await codec_http.post(
        "/encode",
        json=as_json([plain_payload(MESSAGE)]),
        headers={"Authorization": f"Bearer {CODEC_TOKEN}"},
    )
    assert encoded.status_code == 200
    [payload] = from_json(encoded.json())
    assert payload.metadata[KEY_ID_METADATA] == NEW.key_id.encode()  # the first key encrypts
    assert MESSAGE not in encoded.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token-of-the-right-length-0123456789",
        f"Bearer {CODEC_TOKEN}x",
        f"Bearer {CODEC_TOKEN[:-1]}",
        f"Basic {CODEC_TOKEN}",
        CODEC_TOKEN,
        f"Bearer {API}",  # the gateway's token is not the codec server's
        ("Bearer " + "é" * 40).encode(),
        b"Bearer \xff\xfe" + CODEC_TOKEN.encode(),
        "Bearer " + "A" * 100_000,
    ],
    ids=lambda value: repr(value)[:30],
)
async def test_codec_server_refuses_without_its_token(
    codec_http: httpx.AsyncClient, authorization: str | bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for route in ("/decode", "/encode"):
        answer = await codec_http.post(route, json=await sealed(MESSAGE), headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert MESSAGE not in answer.text


async def test_a_browser_signs_in_once_and_its_cookie_opens_the_codec(
    codec_http: httpx.AsyncClient,
) -> None:
    """The Temporal UI cannot add a bearer token: a person signs the browser in with the
    token, and the UI's requests carry the cookie (HttpOnly, SameSite=Strict)."""
    page = await codec_http.get("/session")
    assert page.status_code == 200 and "not signed in" in page.text
    for wrong in ("", "wrong-token-of-the-right-length-0123456789", CODEC_TOKEN + "x", API):
        refused = await codec_http.post("/session", data={"token": wrong})
        assert refused.status_code in (401, 422) and "set-cookie" not in refused.headers
    assert not codec_http.cookies

    signed = await codec_http.post("/session", data={"token": CODEC_TOKEN})
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    body = await sealed(MESSAGE)
    answer = await codec_http.post("/decode", json=body)  # the cookie, no Authorization
    assert answer.status_code == 200 and from_json(answer.json()) == [plain_payload(MESSAGE)]
    assert "signed in." in (await codec_http.get("/session")).text

    # A forged cookie is no better than a forged header.
    codec_http.cookies.clear()
    codec_http.cookies.set("canary_codec", CODEC_TOKEN[:-1] + "x")
    assert (await codec_http.post("/decode", json=body)).status_code == 401


async def test_codec_server_cors_lets_in_only_the_temporal_ui(
    codec_http: httpx.AsyncClient,
) -> None:
    def preflight(origin: str) -> Any:
        return codec_http.options(
            "/decode",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )

    allowed = await preflight(UI)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    for origin in (
        "https://evil.example",
        "http://127.0.0.1:8234",
        "null",
        "http://127.0.0.1:8233.evil.example",
    ):
        refused = await preflight(origin)
        assert refused.status_code >= 400
        assert "access-control-allow-origin" not in refused.headers
        # A page elsewhere that somehow holds the token still cannot read the answer.
        answer = await codec_http.post(
            "/decode",
            json=await sealed(MESSAGE),
            headers={"Origin": origin, "Authorization": f"Bearer {CODEC_TOKEN}"},
        )
        assert "access-control-allow-origin" not in answer.headers


async def test_codec_server_names_an_unknown_key_and_refuses_garbage(
    codec_http: httpx.AsyncClient,
) -> None:
    auth = {"Authorization": f"Bearer {CODEC_TOKEN}"}
    stranger = PayloadKey("2025-01", os.urandom(32))
    unknown = await codec_http.post("/decode", json=await sealed(MESSAGE, stranger), headers=auth)
    assert unknown.status_code == 422
    assert "2025-01" in unknown.text and "CANARY_PAYLOAD_KEYS" in unknown.text
    # The right key id on data encrypted with another key: refused, not garbled.
    forged = await codec_http.post(
        "/decode",
        json=await sealed(MESSAGE, PayloadKey(OLD.key_id, os.urandom(32))),
        headers=auth,
    )
    assert forged.status_code == 422 and "does not decrypt" in forged.text
    for body in (b"not json", b'{"payloads": "x"}', b"\xff\xfe"):
        garbage = await codec_http.post("/decode", content=body, headers=auth)
        assert garbage.status_code == 400


def test_codec_server_does_not_start_without_keys_or_token() -> None:
    with pytest.raises(MissingSettingError) as no_keys:
        create_codec_app(codec_settings(payload_keys=""))
    assert "CANARY_PAYLOAD_KEYS" in str(no_keys.value)
    with pytest.raises(MissingSettingError) as no_token:
        create_codec_app(codec_settings(codec_token=None))
    assert "CANARY_CODEC_TOKEN" in str(no_token.value)
    with pytest.raises(InvalidTokenError) as short:
        codec_settings(codec_token="short-codec-token")
    assert "CANARY_CODEC_TOKEN" in str(short.value)


async def test_the_temporal_cli_reads_a_history_through_the_codec_server(
    dev_env: WorkflowEnvironment, encrypted: tuple[Deployment, str]
) -> None:
    """`temporal workflow show --codec-endpoint`: the real CLI, over HTTP, in its JSON shape."""
    _, workflow_id = encrypted
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_codec_app(codec_settings()), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)

        async def show(*extra: str) -> tuple[int, str]:
            process = await asyncio.create_subprocess_exec(
                _binary("temporal"),
                "workflow",
                "show",
                "--workflow-id",
                workflow_id,
                "--address",
                dev_env.client.service_client.config.target_host,
                "--namespace",
                dev_env.client.namespace,
                "--output",
                "json",
                "--codec-endpoint",
                f"http://127.0.0.1:{port}",
                *extra,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await process.communicate()
            return process.returncode or 0, out.decode()

        code, shown = await show("--codec-auth", f"Bearer {CODEC_TOKEN}")
        assert code == 0, shown
        # Decoded payloads come back as json/plain, their data base64 in the CLI's JSON.
        assert MESSAGE.lower() in readable(shown) and EMAIL in readable(shown)
        _, refused = await show()  # no token: nothing decoded
        assert MESSAGE.lower() not in refused.lower() and EMAIL not in refused
        if refused.lstrip().startswith("{"):
            assert MESSAGE.lower() not in readable(refused)
    finally:
        server.should_exit = True
        await serving


# -- CANARY_PAYLOAD_KEYS itself -----------------------------------------------------------------

KEY_TEXT = base64.b64encode(OLD.key).decode()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (KEY_TEXT, "entry 1 is not <key id>:<key>"),
        (f":{KEY_TEXT}", "entry 1 is not <key id>:<key>"),
        (f"2026-06:{KEY_TEXT},", "entry 2 is not <key id>:<key>"),
        (f"2026 06:{KEY_TEXT}", "the key id of entry 1"),
        (f"2026-06:{KEY_TEXT},2026-06:{KEY_TEXT}", "names key id '2026-06' twice"),
        (f"2026-06:{KEY_TEXT}!", "key '2026-06' is not base64"),
        (f"2026-06:{base64.b64encode(OLD.key[:16]).decode()}", "is 16 bytes, AES-256 needs 32"),
        (f"2026-06:{base64.b64encode(OLD.key + b'x').decode()}", "is 33 bytes"),
    ],
    # The keys are random: ids of their own keep the collection the same in every process.
    ids=[
        "key-alone",
        "no-key-id",
        "empty-entry",
        "space-in-key-id",
        "key-id-twice",
        "not-base64",
        "16-bytes",
        "33-bytes",
    ],
)
def test_malformed_keys_fail_naming_the_variable_never_the_key(value: str, problem: str) -> None:
    with pytest.raises(InvalidPayloadKeysError) as error:
        Settings(payload_keys=value)
    message = str(error.value)
    assert message.startswith("CANARY_PAYLOAD_KEYS") and problem in message
    assert KEY_TEXT[:12] not in message and KEY_TEXT[-12:] not in message


def test_malformed_keys_stop_the_cli_with_the_variables_name() -> None:
    environment = {**os.environ, "CANARY_PAYLOAD_KEYS": f"2026-06:{KEY_TEXT[:-8]}"}
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "list"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "CANARY_PAYLOAD_KEYS is malformed" in done.stderr and "Traceback" not in done.stderr
    assert KEY_TEXT[:12] not in done.stderr + done.stdout


def test_keys_accept_urlsafe_base64_and_keep_their_order() -> None:
    urlsafe = base64.urlsafe_b64encode(NEW.key).decode()
    keys = parse_payload_keys(f" 2026-12:{urlsafe} , 2026-06:{KEY_TEXT} ")
    assert keys == [NEW, OLD]
    assert parse_payload_keys("") == [] and parse_payload_keys(" , ") == []
    assert NEW.key.hex() not in repr(Settings(payload_keys=setting(NEW)))


def test_keys_and_codec_token_never_reach_a_log_line() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    try:
        setup_logging(codec_settings(), "DEBUG")
        root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
        urlsafe = base64.urlsafe_b64encode(NEW.key).decode()
        logging.getLogger("probe").warning(
            "env: CANARY_PAYLOAD_KEYS=%s,%s token=%s", urlsafe, setting(OLD), CODEC_TOKEN
        )
    finally:
        root.handlers[:], root.level = saved
    line = buffer.getvalue()
    assert "[redacted]" in line
    for secret in (CODEC_TOKEN, KEY_TEXT, base64.b64encode(NEW.key).decode(), urlsafe):
        assert secret not in line


# -- the codec's properties ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=4096),
    metadata=st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=40), max_size=4),
)
def test_round_trip_of_any_payload(data: bytes, metadata: dict[str, bytes]) -> None:
    codec = EncryptionCodec([NEW, OLD])
    payload = Payload(metadata=metadata, data=data)
    first, second = codec.encrypt(payload), codec.encrypt(payload)
    assert codec.decrypt(first) == payload
    assert EncryptionCodec([OLD, NEW]).decrypt(first) == payload  # any listed key decrypts
    # A fresh nonce each time: the same payload never encrypts the same way twice.
    assert first.data[:12] != second.data[:12] and first.data != second.data
    if len(data) >= 8:
        assert data not in first.data


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=512),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_altered_byte_is_refused(data: bytes, position: int, bit: int) -> None:
    codec = EncryptionCodec([NEW])
    sealed_payload = codec.encrypt(Payload(metadata={"encoding": b"binary/plain"}, data=data))
    altered = bytearray(sealed_payload.data)
    altered[position % len(altered)] ^= 1 << bit
    tampered = Payload(metadata=sealed_payload.metadata, data=bytes(altered))
    with pytest.raises(UndecryptablePayloadError):
        codec.decrypt(tampered)
    # Nor can the key id be swapped for another listed key's.
    relabelled = Payload(
        metadata={**sealed_payload.metadata, KEY_ID_METADATA: b"2026-06"}, data=sealed_payload.data
    )
    with pytest.raises(UndecryptablePayloadError):
        EncryptionCodec([NEW, OLD]).decrypt(relabelled)
