"""Connecting to a Temporal cluster or Temporal Cloud: address, namespace, API key and TLS
from Canary's settings (the same variable names as Temporal's own client configuration),
over a TOML profile when there is one."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

import worker
from activities.home import HomeActivities
from activities.services import Services
from canary.client import TemporalUnavailableError, connect, connect_options
from canary.logs import SECRET_FIELDS, JsonFormatter
from canary.settings import Settings


@pytest.fixture(autouse=True)
def no_outside_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither this machine's environment, a .env file nor a user's temporal.toml."""
    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "CANARY_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.chdir(tmp_path)


def test_a_local_dev_server_needs_nothing() -> None:
    options = connect_options(Settings())
    assert options["target_host"] == "localhost:7233" and options["namespace"] == "default"
    assert "api_key" not in options and "tls" not in options


def test_temporal_cloud_with_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "us-east-1.aws.api.temporal.io:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "canary-prod.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "tmprl-key-123456")
    settings = Settings()
    assert settings.temporal_api_key == "tmprl-key-123456"
    options = connect_options(settings)
    assert options["target_host"] == "us-east-1.aws.api.temporal.io:7233"
    assert options["namespace"] == "canary-prod.a1b2c"
    assert options["api_key"] == "tmprl-key-123456"
    assert options["tls"] is True  # an API key goes over TLS


def test_api_key_from_a_dotenv_file(tmp_path: Path) -> None:
    # Temporal's own configuration does not read .env; Canary's settings do.
    (tmp_path / ".env").write_text("TEMPORAL_API_KEY=from-dotenv-key\nTEMPORAL_TLS=true\n")
    options = connect_options(Settings())
    assert options["api_key"] == "from-dotenv-key" and options["tls"] is True


def test_mtls_with_client_certificate_key_and_ca(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    settings = Settings(
        temporal_address="canary-prod.a1b2c.tmprl.cloud:7233",
        temporal_namespace="canary-prod.a1b2c",
        temporal_tls_client_cert_path=str(tmp_path / "client.pem"),
        temporal_tls_client_key_path=str(tmp_path / "client.key"),
        temporal_tls_server_ca_cert_path=str(tmp_path / "ca.pem"),
        temporal_tls_server_name="canary-prod.a1b2c.tmprl.cloud",
    )
    tls = connect_options(settings)["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-----client.pem-----"
    assert tls.client_private_key == b"-----client.key-----"
    assert tls.server_root_ca_cert == b"-----ca.pem-----"
    assert tls.domain == "canary-prod.a1b2c.tmprl.cloud"


def test_tls_mistakes_are_named(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("cert")
    with pytest.raises(TemporalUnavailableError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        connect_options(Settings(temporal_tls_client_cert_path=str(tmp_path / "client.pem")))
    missing = Settings(
        temporal_tls_client_cert_path=str(tmp_path / "client.pem"),
        temporal_tls_client_key_path=str(tmp_path / "nowhere.key"),
    )
    with pytest.raises(TemporalUnavailableError, match="TEMPORAL_TLS_CLIENT_KEY_PATH=.*nowhere"):
        connect_options(missing)
    # TLS turned off explicitly wins, even with an API key (a proxy that terminates TLS).
    plain = connect_options(Settings(temporal_api_key="k" * 12, temporal_tls=False))
    assert plain["tls"] is False and plain["api_key"] == "k" * 12


def test_a_toml_profile_stands_unless_settings_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        "[profile.cloud]\n"
        'address = "eu-west-1.aws.api.temporal.io:7233"\n'
        'namespace = "canary-eu.a1b2c"\n'
        'api_key = "profile-key-123456"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    options = connect_options(Settings(temporal_profile="cloud"))
    assert options["target_host"] == "eu-west-1.aws.api.temporal.io:7233"
    assert options["namespace"] == "canary-eu.a1b2c"
    assert options["api_key"] == "profile-key-123456" and options["tls"] is True
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    overridden = connect_options(Settings(temporal_profile="cloud"))
    assert overridden["target_host"] == "temporal.internal:7233"
    assert overridden["namespace"] == "canary-eu.a1b2c"


def test_the_api_key_never_reaches_a_log_line() -> None:
    assert "temporal_api_key" in SECRET_FIELDS
    settings = Settings(temporal_api_key="tmprl-secret-key-42")
    formatter = JsonFormatter([str(getattr(settings, name) or "") for name in SECRET_FIELDS])
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "key %s", ("tmprl-secret-key-42",), None
    )
    assert "tmprl-secret-key-42" not in formatter.format(record)


def test_workflow_cache_size_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_MAX_CACHED_WORKFLOWS", "500")
    seen: dict[str, object] = {}

    class FakeWorker:
        def __init__(self, client: object, closing: object = (), **options: object) -> None:
            seen.update(options)

    monkeypatch.setattr(worker, "CanaryWorker", FakeWorker)
    worker.build_worker(object(), Settings(), activities=[])  # type: ignore[arg-type]
    assert seen["max_cached_workflows"] == 500
    assert Settings.model_fields["max_cached_workflows"].default == 1000
    # A busy worker's sticky tasks wait for it rather than move behind the shared queue.
    assert seen["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=60)


def test_the_worker_keeps_one_homes_refresher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The remediations tell the Homes' refresher of their changes, people's Homes are
    published through the same activities, and the worker stops that one refresher."""
    stopped: list[Any] = []

    class FakeWorker:
        def __init__(self, client: object, closing: list[Any], **options: object) -> None:
            stopped.extend(closing)

    monkeypatch.setattr(worker, "CanaryWorker", FakeWorker)
    activities = worker.all_activities(Services(Settings()))
    worker.build_worker(object(), Settings(), activities=activities)  # type: ignore[arg-type]

    def homes_of(callables: list[Any]) -> list[HomeActivities]:
        owners = [getattr(c, "__self__", None) for c in callables]
        return [o for o in owners if isinstance(o, HomeActivities)]

    [homes] = {id(h): h for h in homes_of(activities)}.values()
    assert homes_of(stopped) == [homes]


async def test_connect_sends_the_api_key(dev_env: WorkflowEnvironment) -> None:
    # The dev server ignores API keys and speaks plaintext: TLS off, key still sent.
    target = dev_env.client.service_client.config.target_host
    settings = Settings(
        temporal_address=target, temporal_api_key="dev-key-123456", temporal_tls=False
    )
    client = await connect(settings)
    assert client.api_key == "dev-key-123456"
    assert client.service_client.config.tls is False
    await client.count_workflows()
