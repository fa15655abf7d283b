"""The one Temporal client factory, used by the worker, the gateway, the CLI and the tests.

Address and namespace come from Canary's settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE);
TLS, mTLS and API keys come from Temporal's own environment/TOML client configuration
(TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE), so Temporal Cloud works unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from canary.metrics import temporal_runtime
from canary.settings import Settings, get_settings
from canary.telemetry import temporal_interceptors


class TemporalUnavailableError(RuntimeError):
    pass


def connect_options(settings: Settings) -> dict[str, Any]:
    try:
        options: dict[str, Any] = dict(
            ClientConfig.load_client_connect_config(profile=os.environ.get("TEMPORAL_PROFILE"))
        )
    except Exception as exc:  # a malformed TOML profile should say so, not crash obscurely
        raise TemporalUnavailableError(f"Temporal client configuration is invalid: {exc}") from exc
    options["target_host"] = settings.temporal_address
    options["namespace"] = settings.temporal_namespace
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
            data_converter=pydantic_data_converter,
            interceptors=temporal_interceptors(),
            **options,
        )
    except RuntimeError as exc:
        raise TemporalUnavailableError(
            f"Cannot reach Temporal at {options['target_host']} (namespace "
            f"{options['namespace']}): {exc}. Start one with `canary up` or set TEMPORAL_ADDRESS."
        ) from exc
