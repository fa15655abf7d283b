"""The one Temporal client factory, used by the worker, the gateway, the CLI and the tests.

It starts from Temporal's own client configuration (the TOML profile TEMPORAL_PROFILE names,
then Temporal's environment variables), then applies Canary's settings, which carry the same
names (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
TEMPORAL_TLS_SERVER_NAME) and can also come from a .env file. Temporal Cloud works with an API
key (TLS is then on) or with mTLS (a client certificate and key).

With CANARY_PAYLOAD_KEYS set, every client it makes encrypts payloads (canary.codec), and so
does everything built on one: the worker, the gateway, the CLI, `canary replay` and export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.service import TLSConfig

from canary.codec import encrypting
from canary.converter import canary_data_converter
from canary.metrics import temporal_runtime
from canary.settings import Settings, get_settings
from canary.telemetry import temporal_interceptors


class TemporalUnavailableError(RuntimeError):
    pass


def _read(path: str | None, variable: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise TemporalUnavailableError(f"{variable}={path} cannot be read: {exc}") from exc


def tls_option(settings: Settings, inherited: Any = None) -> bool | TLSConfig | None:
    """The ``tls`` argument of Client.connect from Canary's settings; ``inherited`` is what
    Temporal's own configuration said (None: it said nothing, and neither do we)."""
    cert, key = settings.temporal_tls_client_cert_path, settings.temporal_tls_client_key_path
    if bool(cert) != bool(key):
        raise TemporalUnavailableError(
            "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together: "
            "set both for mTLS, or neither"
        )
    if settings.temporal_tls is False:
        return False
    ca, server_name = settings.temporal_tls_server_ca_cert_path, settings.temporal_tls_server_name
    if cert or ca or server_name:
        return TLSConfig(
            client_cert=_read(cert, "TEMPORAL_TLS_CLIENT_CERT_PATH"),
            client_private_key=_read(key, "TEMPORAL_TLS_CLIENT_KEY_PATH"),
            server_root_ca_cert=_read(ca, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
            domain=server_name,
        )
    if settings.temporal_tls or settings.temporal_api_key:
        # An API key travels only over TLS (Temporal's own rule), unless TLS is turned off.
        return inherited if inherited is not None else True
    return inherited


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic models as JSON, encrypted when CANARY_PAYLOAD_KEYS names keys."""
    if not settings.payload_keys:
        return canary_data_converter
    return encrypting(canary_data_converter, settings.payload_keys)


def connect_options(settings: Settings) -> dict[str, Any]:
    profile = settings.temporal_profile or os.environ.get("TEMPORAL_PROFILE")
    try:
        options: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile))
    except Exception as exc:  # a malformed TOML profile should say so, not crash obscurely
        raise TemporalUnavailableError(f"Temporal client configuration is invalid: {exc}") from exc
    # A TOML profile's address and namespace stand unless Canary's settings name them.
    chosen = settings.model_fields_set
    if "temporal_address" in chosen or "target_host" not in options:
        options["target_host"] = settings.temporal_address
    if "temporal_namespace" in chosen or "namespace" not in options:
        options["namespace"] = settings.temporal_namespace
    if settings.temporal_api_key:
        options["api_key"] = settings.temporal_api_key
    tls = tls_option(settings, options.get("tls"))
    if tls is not None:
        options["tls"] = tls
    return options


async def connect(settings: Settings | None = None, **overrides: Any) -> Client:
    settings = settings or get_settings()
    options = connect_options(settings)
    runtime = temporal_runtime(settings)
    if runtime is not None:
        options.setdefault("runtime", runtime)
    options.update(overrides)
    try:
        return await Client.connect(
            data_converter=data_converter(settings),
            interceptors=temporal_interceptors(),
            **options,
        )
    except RuntimeError as exc:
        raise TemporalUnavailableError(
            f"Cannot reach Temporal at {options['target_host']} (namespace "
            f"{options['namespace']}): {exc}. Start one with `canary up` or set TEMPORAL_ADDRESS."
        ) from exc
