"""`canary up --encrypt`: the local stack with every payload encrypted under a key it makes
once, and the Temporal UI pointed at the codec server, as a new user runs it.

A report through the gateway becomes a remediation whose history holds no readable payload;
the UI's settings name the codec server; a browser signed in there with the token kept in the
data directory reads the history's payloads.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client, WorkflowHistory

from canary.codec import ENCODING
from starter.stack import API_TOKEN_FILE, CODEC_TOKEN_FILE, PAYLOAD_KEYS_FILE
from tests.helpers import payload_data
from tests.processes import Child
from tests.stack import free_port

START_TIMEOUT = 240.0
CUSTOMER = "Quillfeather Biosciences"


@pytest.mark.timeout(START_TIMEOUT + 120)
def test_canary_up_encrypt_runs_the_demo_encrypted_and_readable_through_the_codec(
    tmp_path: Path,
) -> None:
    ports = {
        name: free_port() for name in ("temporal", "ui", "gateway", "sandbox", "smtp", "codec")
    }
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CANARY_", "STRIPE_", "SLACK_", "SALESFORCE_", "TEMPORAL_", "OTEL_"))
    }
    data_dir = tmp_path / ".canary"
    args = [sys.executable, "-m", "starter.cli", "up", "--encrypt", "--data-dir", str(data_dir)]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    child = Child(args, tmp_path / "up.log", environment)
    child.start()
    try:
        child.wait_for_output("Press Ctrl-C", timeout=START_TIMEOUT)
        banner = child.output()
        assert f"http://127.0.0.1:{ports['codec']}/session" in banner
        for name in (PAYLOAD_KEYS_FILE, CODEC_TOKEN_FILE, API_TOKEN_FILE):
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
        key_file = (data_dir / PAYLOAD_KEYS_FILE).read_text()
        assert key_file.startswith("demo-") and key_file.strip() not in banner

        api = (data_dir / API_TOKEN_FILE).read_text().strip()
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        answer = httpx.post(
            f"{gateway}/api/detections",
            json={
                "source": "zapier",
                "subject": {"kind": "zap_run", "id": "run-encrypted-demo"},
                "account": {"name": CUSTOMER},
                "message": f"Renewal sync failed for {CUSTOMER}",
            },
            headers={"Authorization": f"Bearer {api}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        workflow_id = answer.json()["workflow_id"]

        # What anyone with Temporal access reads: no payload in the clear.
        history = asyncio.run(alerted_history(ports["temporal"], workflow_id))
        started = history.events[0].workflow_execution_started_event_attributes
        payloads = list(started.input.payloads)
        assert payloads and all(p.metadata["encoding"] == ENCODING for p in payloads)
        assert not any(
            CUSTOMER.encode() in data for e in history.events for data in payload_data(e)
        )

        # The UI is pointed at the codec server.
        settings = httpx.get(f"http://127.0.0.1:{ports['ui']}/api/v1/settings", timeout=10)
        assert settings.json()["Codec"]["Endpoint"] == f"http://127.0.0.1:{ports['codec']}"

        # A browser signed in with the kept token reads the payloads the UI asks about.
        codec = f"http://127.0.0.1:{ports['codec']}"
        token = (data_dir / CODEC_TOKEN_FILE).read_text().strip()
        with httpx.Client(base_url=codec, timeout=10) as browser:
            assert browser.post("/session", data={"token": token}).status_code in (200, 303)
            decoded = browser.post(
                "/decode",
                content=json_format.MessageToJson(Payloads(payloads=payloads)),
                headers={"Origin": f"http://127.0.0.1:{ports['ui']}", "X-Namespace": "default"},
            )
        assert decoded.status_code == 200, decoded.text
        plain = [p.data for p in json_format.Parse(decoded.text, Payloads()).payloads]
        assert any(CUSTOMER.encode() in data for data in plain)
    finally:
        child.stop()


async def alerted_history(temporal_port: int, workflow_id: str) -> WorkflowHistory:
    """The remediation's history once its alert is out (a plain client: no keys)."""
    client = await Client.connect(f"127.0.0.1:{temporal_port}")
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + 120
    while True:
        history = await handle.fetch_history()
        if len(history.events) >= 8 or time.monotonic() > deadline:
            return history
        await asyncio.sleep(0.5)
