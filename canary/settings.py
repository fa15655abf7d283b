"""Canary's configuration: one pydantic-settings model read from the environment.

Every feature asks for the values it needs through :meth:`Settings.require`, so a missing
setting fails at start-up with the variable's name and what it is for, instead of as an
obscure SDK error in the middle of a remediation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from canary.codec import PayloadKey, parse_payload_keys


class MissingSettingError(RuntimeError):
    """A feature was used without the environment variable it needs."""

    def __init__(self, variable: str, purpose: str) -> None:
        super().__init__(
            f"{variable} is not set: it is needed {purpose}. Set it in the environment."
        )
        self.variable = variable


#: The shortest token the gateway accepts; 32 random characters are beyond guessing.
TOKEN_MIN_LENGTH = 32


class InvalidTokenError(RuntimeError):
    """A configured token is too short or has characters an HTTP header cannot carry.

    Not a ``ValueError``: pydantic would wrap that in a ValidationError that prints the
    value, and the value is a secret."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(
            f"{variable} {problem}. Every token must be at least {TOKEN_MIN_LENGTH} printable "
            "ASCII characters without spaces or commas; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
        self.variable = variable


def _checked_tokens(variable: str, tokens: list[str]) -> list[str]:
    """The tokens, or :class:`InvalidTokenError` naming the variable (never the token)."""
    for position, token in enumerate(tokens, start=1):
        which = f"token {position}" if len(tokens) > 1 else "its token"
        if len(token) < TOKEN_MIN_LENGTH:
            raise InvalidTokenError(variable, f"is too short: {which} has {len(token)} characters")
        # What a header carries unchanged, without the separators of a list of tokens.
        if not (token.isascii() and token.isprintable()) or " " in token or "," in token:
            raise InvalidTokenError(
                variable, f"cannot be sent: {which} has a space, a comma or a non-ASCII character"
            )
    return tokens


def check_token(variable: str, token: str) -> str:
    """``token`` if the gateway would accept it, else :class:`InvalidTokenError` naming
    ``variable`` (a setting, or the file the token came from)."""
    return _checked_tokens(variable, [token])[0]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Temporal. canary.client starts from Temporal's own client configuration (a TOML profile
    # chosen by TEMPORAL_PROFILE, then Temporal's environment variables), and the settings
    # below, which use the same variable names, override it when set (so a .env file works
    # too). Temporal Cloud: an API key (TLS is then on), or mTLS with a client cert and key.
    temporal_address: str = Field("localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_profile: str | None = Field(None, validation_alias="TEMPORAL_PROFILE")
    temporal_api_key: str | None = Field(None, validation_alias="TEMPORAL_API_KEY")
    # TLS: unset means on when an API key or a client certificate is given, off otherwise.
    temporal_tls: bool | None = Field(None, validation_alias="TEMPORAL_TLS")
    temporal_tls_client_cert_path: str | None = Field(
        None, validation_alias="TEMPORAL_TLS_CLIENT_CERT_PATH"
    )
    temporal_tls_client_key_path: str | None = Field(
        None, validation_alias="TEMPORAL_TLS_CLIENT_KEY_PATH"
    )
    temporal_tls_server_ca_cert_path: str | None = Field(
        None, validation_alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH"
    )
    temporal_tls_server_name: str | None = Field(None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    # Workflows a worker keeps in memory between tasks (Temporal's sticky cache), per worker
    # process: more saves replaying histories, each costs memory (bench/README.md measures
    # it). 1000 is the Python SDK's own default.
    max_cached_workflows: int = Field(1000, ge=0, validation_alias="CANARY_MAX_CACHED_WORKFLOWS")
    temporal_ui_url: str = Field("http://localhost:8233", validation_alias="CANARY_TEMPORAL_UI_URL")
    task_queue: str = Field("canary", validation_alias="CANARY_TASK_QUEUE")

    # Stripe. STRIPE_API_BASE points the SDK at the local sandbox; unset means api.stripe.com.
    stripe_api_key: str | None = Field(None, validation_alias="STRIPE_API_KEY")
    stripe_api_base: str | None = Field(None, validation_alias="STRIPE_API_BASE")
    stripe_webhook_secret: str | None = Field(None, validation_alias="STRIPE_WEBHOOK_SECRET")
    # The mode of the Stripe events Canary acts on (true: live, false: test); an event of the
    # other mode is acknowledged and ignored. Unset: the mode of STRIPE_API_KEY, and in a
    # process without the key (the gateway) test mode, with live-mode events refused (503)
    # until it is set, so Stripe keeps them (starter/stripe_events.py).
    stripe_livemode: bool | None = Field(None, validation_alias="STRIPE_LIVEMODE")
    stripe_dashboard_url: str = Field(
        "https://dashboard.stripe.com/test", validation_alias="CANARY_STRIPE_DASHBOARD_URL"
    )

    # Slack. SLACK_API_URL points slack-sdk at the sandbox; unset means slack.com/api/.
    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(None, validation_alias="SLACK_API_URL")
    # The workspace (T…) and the Slack app (A…) Canary is installed as: when set, a click
    # whose payload names another team or app is refused.
    slack_team_id: str | None = Field(None, validation_alias="SLACK_TEAM_ID")
    slack_app_id: str | None = Field(None, validation_alias="SLACK_APP_ID")
    alert_channel: str = Field("#gtm-alerts", validation_alias="CANARY_ALERT_CHANNEL")
    escalation_channel: str = Field(
        "#gtm-escalations", validation_alias="CANARY_ESCALATION_CHANNEL"
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_ADMINS"
    )
    # Hosts a link from data (a detection's links, an SOP link whose URL is a fact such as the
    # product's admin page) may point to in Slack, comma-separated, matched exactly, https
    # only; besides these only the configured bases (Stripe dashboard, Salesforce instance,
    # Temporal UI) are linked. Any other link is shown as text (canary.blocks.links).
    link_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_LINK_HOSTS"
    )

    # Salesforce: an access token + instance URL, username/password/security token, or JWT.
    salesforce_instance_url: str | None = Field(None, validation_alias="SALESFORCE_INSTANCE_URL")
    salesforce_access_token: str | None = Field(None, validation_alias="SALESFORCE_ACCESS_TOKEN")
    salesforce_username: str | None = Field(None, validation_alias="SALESFORCE_USERNAME")
    salesforce_password: str | None = Field(None, validation_alias="SALESFORCE_PASSWORD")
    salesforce_security_token: str | None = Field(
        None, validation_alias="SALESFORCE_SECURITY_TOKEN"
    )
    salesforce_domain: str | None = Field(None, validation_alias="SALESFORCE_DOMAIN")
    salesforce_consumer_key: str | None = Field(None, validation_alias="SALESFORCE_CONSUMER_KEY")
    salesforce_private_key_file: str | None = Field(
        None, validation_alias="SALESFORCE_PRIVATE_KEY_FILE"
    )
    salesforce_api_version: str = Field("59.0", validation_alias="SALESFORCE_API_VERSION")
    # The Account field that names a customer's segment (the payment SOP's quiet phase pages
    # people at once for the segments it names). A field's API name only: it goes into SOQL.
    salesforce_segment_field: str = Field(
        "Segment__c",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        validation_alias="CANARY_SALESFORCE_SEGMENT_FIELD",
    )
    # The Opportunity checkbox that says its contract is signed, read when a report of a
    # signed contract is confirmed (stage_mismatch). A field's API name only: it goes into SOQL.
    salesforce_contract_field: str = Field(
        "Contract_Signed__c",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
        validation_alias="CANARY_SALESFORCE_CONTRACT_FIELD",
    )

    # Gateway and product.
    # Tokens of the gateway's API, each checked by _checked_tokens. CANARY_API_TOKEN is the
    # one token of every scope (small setups, the demo); the scoped lists hold several
    # tokens each, so one can be rotated without stopping the others.
    api_token: str | None = Field(None, validation_alias="CANARY_API_TOKEN")
    # May POST /api/detections and nothing else.
    intake_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_INTAKE_TOKENS"
    )
    # May read: GET /api/remediations/{id}, /api/report and the dashboard /report.
    read_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_READ_TOKENS"
    )
    gateway_url: str = Field("http://localhost:8080", validation_alias="CANARY_GATEWAY_URL")
    catalog_path: str | None = Field(None, validation_alias="CANARY_CATALOG")
    max_body_bytes: int = Field(1_000_000, validation_alias="CANARY_MAX_BODY_BYTES")
    # How long one SOP step (a Stripe retry, a CRM write) may run before Temporal retries it
    # with the same idempotency key; a worker that died mid-call is noticed after this long.
    step_timeout_seconds: float = Field(60.0, gt=0, validation_alias="CANARY_STEP_TIMEOUT")

    # Detectors: the SQL warehouse they query (any SQLAlchemy URL; an SQLite file by default),
    # their catalog (queries and thresholds as data), and the daily digest's hour (UTC).
    warehouse_url: str = Field(
        "sqlite:///.canary/warehouse.db", validation_alias="CANARY_WAREHOUSE_URL"
    )
    detectors_path: str | None = Field(None, validation_alias="CANARY_DETECTORS")
    # The product account a report names, read from the same warehouse when an SOP confirms
    # it exists (account_unlinked): one row by :app_account_id, the columns named as here.
    app_account_sql: str = Field(
        "SELECT app_account_id, name, domain, plan, crm_account_id FROM accounts "
        "WHERE app_account_id = :app_account_id",
        validation_alias="CANARY_APP_ACCOUNT_SQL",
    )
    digest_hour_utc: int = Field(8, ge=0, le=23, validation_alias="CANARY_DIGEST_HOUR")

    # E-mail for high-priority alerts and reports (SMTP). With CANARY_SMTP_STARTTLS true (the
    # default) a relay that does not offer STARTTLS is refused rather than used in clear.
    smtp_host: str | None = Field(None, validation_alias="CANARY_SMTP_HOST")
    smtp_port: int = Field(587, validation_alias="CANARY_SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="CANARY_SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="CANARY_SMTP_PASSWORD")
    smtp_starttls: bool = Field(True, validation_alias="CANARY_SMTP_STARTTLS")
    smtp_from: str = Field("canary@localhost", validation_alias="CANARY_SMTP_FROM")

    # Hosts a workflow tool's retry URL may name (source.retry), comma-separated, matched
    # exactly; empty: every retry URL is refused. Only https, only public addresses.
    retry_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_RETRY_HOSTS"
    )

    # Payload encryption (canary.codec): <key id>:<base64 of 32 bytes>, comma-separated; the
    # first key encrypts, every key decrypts (rotate by putting a new key first). Unset:
    # payloads are stored in Temporal in the clear.
    payload_keys: Annotated[list[PayloadKey], NoDecode] = Field(
        default_factory=list, validation_alias="CANARY_PAYLOAD_KEYS"
    )
    # The bearer token of `canary codec-server`, which decrypts for the Temporal UI and CLI.
    codec_token: str | None = Field(None, validation_alias="CANARY_CODEC_TOKEN")

    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    # host:port where Temporal's runtime metrics are served for Prometheus (/metrics); off
    # when unset. One listener per process, so give each process on a host its own port.
    prometheus_bind: str | None = Field(None, validation_alias="CANARY_PROMETHEUS_BIND")

    @field_validator("stripe_livemode", mode="before")
    @classmethod
    def _unset_livemode(cls, value: Any) -> Any:
        # Compose passes an unset variable as an empty string: that is unset, not false.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("link_hosts", mode="before")
    @classmethod
    def _split_link_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("intake_tokens", "read_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_token", mode="after")
    @classmethod
    def _check_api_token(cls, value: str | None) -> str | None:
        return _checked_tokens("CANARY_API_TOKEN", [value])[0] if value else None

    @field_validator("intake_tokens", mode="after")
    @classmethod
    def _check_intake_tokens(cls, value: list[str]) -> list[str]:
        return _checked_tokens("CANARY_INTAKE_TOKENS", value)

    @field_validator("read_tokens", mode="after")
    @classmethod
    def _check_read_tokens(cls, value: list[str]) -> list[str]:
        return _checked_tokens("CANARY_READ_TOKENS", value)

    @field_validator("retry_hosts", mode="before")
    @classmethod
    def _split_retry_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("payload_keys", mode="before")
    @classmethod
    def _parse_payload_keys(cls, value: Any) -> Any:
        return parse_payload_keys(value) if isinstance(value, str) else value

    @field_validator("codec_token", mode="after")
    @classmethod
    def _check_codec_token(cls, value: str | None) -> str | None:
        return _checked_tokens("CANARY_CODEC_TOKEN", [value])[0] if value else None

    def require(self, field: str, purpose: str) -> str:
        """Return a configured value or fail with the variable's name and why it is needed."""
        value = getattr(self, field)
        if not value:
            info = type(self).model_fields[field]
            alias = info.validation_alias
            raise MissingSettingError(str(alias) if alias else field.upper(), purpose)
        return str(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
