"""docker-compose.yml is checked by parsing it (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from canary import search_attributes as sa
from canary.settings import Settings

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_images_and_ports() -> None:
    assert set(SERVICES) >= {
        "postgresql",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "worker",
        "gateway",
        "otel-collector",
        "jaeger",
    }
    assert SERVICES["postgresql"]["image"].startswith("postgres:")
    assert SERVICES["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert SERVICES["otel-collector"]["image"].startswith("otel/opentelemetry-collector")
    assert "7233:7233" in SERVICES["temporal"]["ports"]
    assert "8233:8080" in SERVICES["temporal-ui"]["ports"]
    assert "8080:8080" in SERVICES["gateway"]["ports"]
    assert "16686:16686" in SERVICES["jaeger"]["ports"]
    assert SERVICES["worker"]["deploy"]["replicas"] == 2
    assert SERVICES["worker"]["command"] == ["canary", "worker"]
    assert SERVICES["gateway"]["command"][:2] == ["canary", "gateway"]


def test_dependencies_start_in_order() -> None:
    assert "postgresql" in SERVICES["temporal"]["depends_on"]
    for service in ("worker", "gateway"):
        depends = SERVICES[service]["depends_on"]
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
    assert "temporal" in SERVICES["temporal-setup"]["depends_on"]


def test_search_attributes_registered_at_start() -> None:
    command = " ".join(SERVICES["temporal-setup"]["command"])
    registered = dict(re.findall(r"--name (\w+) --type (\w+)", command))
    expected = {
        key.name: {"KEYWORD": "Keyword", "INT": "Int"}[key.indexed_value_type.name]
        for key in sa.ALL
    }
    assert registered == expected


def test_canary_services_get_every_setting_they_need() -> None:
    env = SERVICES["worker"]["environment"]
    assert env == SERVICES["gateway"]["environment"]
    known = {str(f.validation_alias) for f in Settings.model_fields.values()}
    for name in env:
        assert name in known or name == "OTEL_SERVICE_NAME", f"{name} is not a Canary setting"
    for required in (
        "TEMPORAL_ADDRESS",
        "STRIPE_API_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "CANARY_API_TOKEN",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        assert required in env
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_collector_forwards_traces_and_dockerfile_runs_canary() -> None:
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile and 'CMD ["canary", "worker"]' in dockerfile
