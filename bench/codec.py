"""The payload codec's cost: the CPU to encrypt and decrypt every payload a remediation stores
in Temporal, measured on the recorded histories of tests/histories/ (one per path of every
SOP), in this process — no stack needed. Each payload is encrypted once (when written) and
decrypted once (when read), the least the SDK does with it."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from canary.codec import EncryptionCodec, PayloadKey

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"
ROUNDS = 20


def payloads_of(message: Message) -> list[Payload]:
    """Every Payload inside a protobuf message, maps and repeated fields included."""
    found: list[Payload] = []
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None:
            continue
        if kind.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, Message):
                found.extend(payloads_of(item))
    return found


def remediation_payloads() -> list[list[Payload]]:
    """Per recorded remediation run: the payloads its history holds."""
    runs = []
    for path in sorted(HISTORIES.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        runs.append([p for event in history.events for p in payloads_of(event)])
    return runs


def measure() -> dict[str, Any]:
    codec = EncryptionCodec([PayloadKey("bench", os.urandom(32))])
    runs = remediation_payloads()
    per_run_ms = []
    for payloads in runs:
        started = time.process_time()
        for _ in range(ROUNDS):
            for payload in payloads:
                codec.decrypt(codec.encrypt(payload))
        per_run_ms.append((time.process_time() - started) * 1000 / ROUNDS)
    sizes = [sum(p.ByteSize() for p in payloads) for payloads in runs]
    return {
        "histories": len(runs),
        "payloads_per_remediation": round(statistics.median(len(r) for r in runs), 1),
        "kb_per_remediation": round(statistics.median(sizes) / 1024, 1),
        "ms_per_remediation_p50": round(statistics.median(per_run_ms), 3),
        "ms_per_remediation_max": round(max(per_run_ms), 3),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
