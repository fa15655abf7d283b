"""docker-compose.yml, read as an attacker looking for a way in: schema-valid, only the
gateway reachable from outside, each service holding only its own secrets, the UI read-only,
and services that restart, report their health and drain when stopped. (No Docker engine
here: the file is parsed and validated against the Compose Specification's schema.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from worker import GRACEFUL_SHUTDOWN

ROOT = Path(__file__).parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SCHEMA = ROOT.parent / "shared" / "reference" / "compose" / "compose-spec.json"
LONG_RUNNING = [name for name, s in SERVICES.items() if s.get("restart") != "no"]
#: Secrets only the worker uses (the outside systems it calls).
WORKER_SECRETS = {
    "STRIPE_API_KEY",
    "SALESFORCE_ACCESS_TOKEN",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_CONSUMER_KEY",
    "SALESFORCE_USERNAME",
    "SALESFORCE_INSTANCE_URL",
}
#: Secrets only the gateway uses (what it verifies, who may call it).
GATEWAY_SECRETS = {
    "STRIPE_WEBHOOK_SECRET",
    "SLACK_SIGNING_SECRET",
    "CANARY_API_TOKEN",
    "CANARY_INTAKE_TOKENS",
    "CANARY_READ_TOKENS",
    "SLACK_APP_TOKEN",
}


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, host port) of every published port; no address means every interface."""
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        address = parts[0] if len(parts) == 3 else "0.0.0.0"
        found.append((address, parts[-2]))
    return found


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.validate(COMPOSE, schema)


def test_a_file_the_schema_refuses_is_refused() -> None:
    broken = {"services": {"worker": {"image": "canary", "restart": ["always"]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, yaml.safe_load(SCHEMA.read_text()))


def test_only_the_gateway_is_published_beyond_this_host() -> None:
    public = {
        name
        for name, s in SERVICES.items()
        if any(address != "127.0.0.1" for address, _ in published(s))
    }
    assert public == {"gateway"}
    # Temporal's frontend has no authentication here: not published at all.
    assert published(SERVICES["temporal"]) == []


def test_each_canary_service_holds_only_its_own_secrets() -> None:
    worker = set(SERVICES["worker"]["environment"])
    gateway = set(SERVICES["gateway"]["environment"])
    assert not worker & GATEWAY_SECRETS, worker & GATEWAY_SECRETS
    assert not gateway & WORKER_SECRETS, gateway & WORKER_SECRETS


def test_payload_keys_reach_every_process_that_reads_remediations() -> None:
    for name in ("worker", "gateway", "codec-server"):
        assert "CANARY_PAYLOAD_KEYS" in SERVICES[name]["environment"], name


def test_the_codec_server_holds_only_the_keys_and_its_token() -> None:
    codec = SERVICES["codec-server"]
    assert set(codec["environment"]) == {
        "CANARY_PAYLOAD_KEYS",
        "CANARY_CODEC_TOKEN",
        "CANARY_TEMPORAL_UI_URL",
    }
    assert published(codec) == [("127.0.0.1", "8081")]
    assert codec["profiles"] == ["encryption"], "runs only where encryption is on"
    assert "CANARY_CODEC_TOKEN" not in set(SERVICES["worker"]["environment"]) | set(
        SERVICES["gateway"]["environment"]
    )
    assert "TEMPORAL_CODEC_ENDPOINT" in SERVICES["temporal-ui"]["environment"]


def test_the_temporal_ui_cannot_change_workflows() -> None:
    env = SERVICES["temporal-ui"]["environment"]
    assert str(env["TEMPORAL_DISABLE_WRITE_ACTIONS"]).lower() == "true"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart(name: str) -> None:
    assert SERVICES[name].get("restart") in ("unless-stopped", "always"), name


@pytest.mark.parametrize("name", ["postgresql", "temporal", "worker", "gateway", "codec-server"])
def test_services_report_their_health(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    assert check["test"] and check["retries"] >= 1


def test_the_gateway_is_healthy_only_when_temporal_answers() -> None:
    assert "/healthz" in " ".join(SERVICES["gateway"]["healthcheck"]["test"])


def test_canary_services_drain_when_stopped() -> None:
    for name in ("worker", "gateway"):
        assert SERVICES[name].get("init") is True, f"{name}: signals reach the process"
    grace = str(SERVICES["worker"]["stop_grace_period"])
    assert grace.endswith("s") and int(grace[:-1]) > GRACEFUL_SHUTDOWN.total_seconds()
