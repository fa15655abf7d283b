"""Structured logs: one JSON object per line, with the workflow id and error type whenever
the line comes from inside a remediation (Temporal's loggers attach that context)."""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from canary.settings import Settings

#: The secrets Canary is configured with never reach a log line, whatever logs them.
SECRET_FIELDS = (
    "temporal_api_key",
    "stripe_api_key",
    "stripe_webhook_secret",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "salesforce_access_token",
    "salesforce_password",
    "salesforce_security_token",
    "api_token",
    "smtp_password",
    "codec_token",
)


#: The loggers of slack-sdk's clients (Web API and response_url, async and not), which test
#: their own level, not the effective one, before writing a call's debug lines.
SLACK_SDK_LOGGERS = (
    "slack_sdk.web.async_base_client",
    "slack_sdk.web.base_client",
    "slack_sdk.webhook.async_client",
    "slack_sdk.webhook.client",
)


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        workflow = getattr(record, "temporal_workflow", None)
        activity = getattr(record, "temporal_activity", None)
        context = workflow or activity
        if isinstance(context, dict):
            entry["workflow_id"] = context.get("workflow_id")
            entry["run_id"] = context.get("run_id")
            if activity:
                entry["activity"] = activity.get("activity_type")
        for key in ("workflow_id", "error_type", "subject"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if isinstance(entry.get("workflow_id"), str) and "error_type" not in entry:
            # Remediation ids start with the error type: payment_failed:invoice:in_123.
            entry["error_type"] = entry["workflow_id"].split(":", 1)[0]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str)
        for secret in self.secrets:
            line = line.replace(secret, "[redacted]")
        return line


def setup_logging(settings: Settings, level: str | None = None) -> None:
    handler = logging.StreamHandler()
    if os.environ.get("CANARY_LOG_FORMAT", "json") == "json":
        secrets = [str(getattr(settings, name) or "") for name in SECRET_FIELDS]
        secrets += [*settings.intake_tokens, *settings.read_tokens]
        # The payload keys, in either base64 alphabet an operator may have written them in.
        secrets += [
            encode(key.key).decode()
            for key in settings.payload_keys
            for encode in (base64.b64encode, base64.urlsafe_b64encode)
        ]
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("CANARY_LOG_LEVEL", "INFO"))
    debugging = root.level <= logging.DEBUG
    # stripe-python logs every request and its response at INFO: two lines per Stripe call,
    # a share of the worker's time under load. DEBUG still shows them.
    logging.getLogger("stripe").setLevel(logging.NOTSET if debugging else logging.WARNING)
    # slack-sdk writes a call's debug lines whenever its logger's own level is unset: the
    # request's whole body and the answer, as text, on every call, shown or not.
    for name in SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debugging else root.level)
