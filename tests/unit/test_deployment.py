"""Deployment files are checked by parsing them (no Docker engine or Slack workspace here):
docker-compose.yml, the Dockerfile, the collector's configuration and the Slack app manifest."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from canary import search_attributes as sa
from canary.settings import Settings
from starter.gateway.app import create_app
from starter.stripe_events import FAILURE_EVENTS, SUCCESS_EVENTS

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def api_routes(app: FastAPI) -> list[RouteContext]:
    """The app's path operations, found through the routers it includes."""
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


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
    assert "ports" not in SERVICES["temporal"]  # the frontend stays on the internal network
    assert "127.0.0.1:8233:8080" in SERVICES["temporal-ui"]["ports"]
    assert "8080:8080" in SERVICES["gateway"]["ports"]
    assert "127.0.0.1:16686:16686" in SERVICES["jaeger"]["ports"]
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
    worker = SERVICES["worker"]["environment"]
    gateway = SERVICES["gateway"]["environment"]
    known = {str(f.validation_alias) for f in Settings.model_fields.values()}
    for name in {**worker, **gateway}:
        assert name in known or name == "OTEL_SERVICE_NAME", f"{name} is not a Canary setting"
    for env, required in (
        (worker, ("STRIPE_API_KEY", "SLACK_BOT_TOKEN")),
        (gateway, ("STRIPE_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET", "CANARY_API_TOKEN")),
    ):
        for name in ("TEMPORAL_ADDRESS", "OTEL_EXPORTER_OTLP_ENDPOINT", *required):
            assert name in env, name
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_collector_forwards_traces_and_dockerfile_runs_canary() -> None:
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    # Canary sends its own metrics to the same OTLP endpoint: the collector must take them.
    metrics = collector["service"]["pipelines"]["metrics"]
    assert metrics["receivers"] == ["otlp"] and metrics["exporters"] == ["prometheus"]
    port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    published = [p.split()[0] for p in SERVICES["otel-collector"]["ports"]]
    assert any(p.endswith(f":{port}:{port}") for p in published)
    assert SERVICES["worker"]["environment"]["CANARY_PROMETHEUS_BIND"].startswith("0.0.0.0:")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile and 'CMD ["canary", "worker"]' in dockerfile


# -- the Slack app manifest -----------------------------------------------------------------

MANIFEST = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yaml").read_text())
#: Slack Web API method → the bot scopes it needs (https://api.slack.com/methods). Canary
#: lists public and private channels and reads their history, so it needs both kinds.
SCOPES_FOR_METHOD: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.getPermalink": set(),
    "auth.test": set(),
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.history": {"channels:history", "groups:history"},
    "conversations.replies": {"channels:history", "groups:history"},
    "users.lookupByEmail": {"users:read", "users:read.email"},
    "users.info": {"users:read"},
    "views.publish": set(),
    "views.open": set(),
    "views.update": set(),
    "usergroups.list": {"usergroups:read"},
    "usergroups.users.list": {"usergroups:read"},
}


def slack_methods_the_adapter_calls() -> set[str]:
    """Every ``self._call("chat_postMessage", …)`` (or direct AsyncWebClient call) in the adapter,
    as Web API method names."""
    tree = ast.parse((ROOT / "canary" / "adapters" / "slack_adapter.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "_call" and node.args and isinstance(node.args[0], ast.Constant):
            found.add(str(node.args[0].value))
        elif isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "_client":
            found.add(node.func.attr)
    for name in found:
        assert callable(getattr(AsyncWebClient, name, None)), f"AsyncWebClient has no {name}"
    return {name.replace("_", ".") for name in found}


def slack_methods_the_listeners_call() -> set[str]:
    """Every ``client.views_open(…)`` (bolt's WebClient) in the gateway's Slack listeners, as
    Web API method names."""
    found: set[str] = set()
    for module in (ROOT / "starter" / "gateway" / "slack" / "listeners").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "client"
            ):
                assert callable(getattr(WebClient, node.func.attr, None)), node.func.attr
                found.add(node.func.attr.replace("_", "."))
    return found


def test_slack_manifest_names_the_app_and_its_bot() -> None:
    assert MANIFEST["_metadata"]["major_version"] == 1
    assert MANIFEST["display_information"]["name"] == "Canary"
    assert len(MANIFEST["display_information"]["description"]) <= 140
    assert MANIFEST["features"]["bot_user"]["display_name"] == "Canary"
    settings = MANIFEST["settings"]
    # Interactivity over HTTP by default; Socket Mode is the switch the next test reads.
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True


def test_slack_manifest_says_how_to_turn_on_socket_mode() -> None:
    """Slack's app-level token, which opens the socket, is made outside the manifest
    (Basic Information → App-Level Tokens) with ``connections:write``, the scope
    apps.connections.open needs (docs.slack.dev/reference/scopes/connections.write): the
    manifest's comments say so next to the switch and the settings Canary reads."""
    text = (ROOT / "deploy" / "slack-app-manifest.yaml").read_text()
    lines = text.splitlines()
    at = next(n for n, line in enumerate(lines) if line.strip().startswith("socket_mode_enabled:"))
    above = at
    while lines[above - 1].strip().startswith("#"):
        above -= 1
    switch = " ".join(line.strip().lstrip("# ") for line in lines[above:at])
    assert "true when the gateway has no public URL" in switch
    assert "connections:write" in switch and "SLACK_APP_TOKEN" in switch
    header = text.split("_metadata:", 1)[0]
    assert re.search(r"SLACK_APP_TOKEN .*App-Level Tokens", header, re.S)
    assert "connections:write" in header
    known = {str(f.validation_alias) for f in Settings.model_fields.values()}
    assert set(re.findall(r"\bSLACK_[A-Z_]+", text)) <= known


def test_slack_manifest_interactivity_url_is_the_gateways_slack_route() -> None:
    url = urlsplit(MANIFEST["settings"]["interactivity"]["request_url"])
    assert url.scheme == "https" and url.hostname == "canary.example.com"
    app = create_app(Settings(), temporal=None)
    [route] = [r for r in api_routes(app) if r.endpoint.__name__ == "slack_actions"]
    assert route.methods == {"POST"}
    assert url.path == route.path


def test_slack_manifest_scopes_cover_every_method_the_adapter_calls() -> None:
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    methods = slack_methods_the_adapter_calls() | slack_methods_the_listeners_call()
    assert {"chat.postMessage", "conversations.history", "users.lookupByEmail"} <= methods
    assert {"views.open", "chat.getPermalink", "chat.postEphemeral"} <= methods
    unknown = methods - set(SCOPES_FOR_METHOD)
    assert not unknown, f"add the scopes of {unknown} to SCOPES_FOR_METHOD and the manifest"
    needed = set().union(*(SCOPES_FOR_METHOD[m] for m in methods))
    # A slash command or a shortcut the bolt app answers needs the commands scope (no Web API
    # method does).
    if slash_commands_the_app_answers() or shortcuts_the_app_answers():
        needed |= {"commands"}
    assert needed <= set(scopes), f"missing scopes: {needed - set(scopes)}"
    # And nothing more than the code needs.
    assert set(scopes) <= needed, f"scopes no call needs: {set(scopes) - needed}"


def slash_commands_the_app_answers() -> set[str]:
    from starter.gateway.slack.listeners import commands

    source = (ROOT / "starter" / "gateway" / "slack" / "listeners" / "commands.py").read_text()
    return {commands.COMMAND} if "app.command(COMMAND)" in source else set()


def shortcuts_the_app_answers() -> dict[str, str]:
    """The callback ids the gateway's shortcut listeners take, with their kind."""
    from starter.gateway.slack.listeners import shortcuts

    source = (ROOT / "starter" / "gateway" / "slack" / "listeners" / "shortcuts.py").read_text()
    taken = {
        "global": "app.global_shortcut(GLOBAL_SHORTCUT)",
        "message": "app.message_shortcut(MESSAGE_SHORTCUT)",
    }
    ids = {"global": shortcuts.GLOBAL_SHORTCUT, "message": shortcuts.MESSAGE_SHORTCUT}
    return {ids[kind]: kind for kind, call in taken.items() if call in source}


def test_slack_manifest_has_the_shortcuts_the_gateway_answers() -> None:
    """Held to Slack's manifest schema (slackapi/manifest-schema: a name of 1 to 24
    characters, a description of 1 to 150, a callback id of 1 to 255, type global or
    message), to the listeners, and to what the sandbox's Slack offers on the chat page."""
    from sandbox.slack.seed import SHORTCUTS

    declared = MANIFEST["features"]["shortcuts"]
    assert {s["callback_id"]: s["type"] for s in declared} == shortcuts_the_app_answers()
    assert shortcuts_the_app_answers() == {
        "canary_report": "global",
        "canary_report_message": "message",
    }
    for shortcut in declared:
        assert set(shortcut) == {"name", "type", "callback_id", "description"}
        assert 1 <= len(shortcut["name"]) <= 24, shortcut["name"]
        assert 1 <= len(shortcut["description"]) <= 150
        assert 1 <= len(shortcut["callback_id"]) <= 255
    assert [{k: s[k] for k in ("type", "callback_id", "name")} for s in declared] == SHORTCUTS
    # The global shortcut's answer is a DM: the Messages tab shows it, and takes no messages.
    home = MANIFEST["features"]["app_home"]
    assert home["messages_tab_enabled"] is True and home["messages_tab_read_only_enabled"] is True


def test_slack_manifest_has_the_slash_command_on_the_gateways_route() -> None:
    [command] = MANIFEST["features"]["slash_commands"]
    assert {command["command"]} == slash_commands_the_app_answers() == {"/canary"}
    assert command["should_escape"] is False
    assert command["description"] and len(command["usage_hint"]) <= 1000
    url = urlsplit(command["url"])
    assert url.scheme == "https" and url.hostname == "canary.example.com"
    app = create_app(Settings(), temporal=None)
    [route] = [r for r in api_routes(app) if r.endpoint.__name__ == "slack_commands"]
    assert route.methods == {"POST"} and url.path == route.path


# -- the README's deployment instructions ------------------------------------------------------

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


DEPLOYING = section("Deploying")


def test_every_variable_the_readme_names_is_a_setting() -> None:
    """In the Configuration and Deploying sections (test-only switches may be named elsewhere)."""
    known = {str(f.validation_alias) for f in Settings.model_fields.values()}
    named = set(
        re.findall(
            r"\b(?:CANARY|TEMPORAL|STRIPE|SLACK|SALESFORCE|OTEL)_[A-Z0-9_]*[A-Z0-9]",
            section("Configuration") + DEPLOYING,
        )
    )
    assert len(named) > 30 and named - known == set(), "names Canary does not read"
    for needed in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "STRIPE_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SALESFORCE_INSTANCE_URL",
        "SALESFORCE_ACCESS_TOKEN",
        "SALESFORCE_CONSUMER_KEY",
        "CANARY_PROMETHEUS_BIND",
        "CANARY_MAX_CACHED_WORKFLOWS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        assert f"`{needed}" in DEPLOYING, needed


def test_readme_stripe_events_are_the_ones_the_gateway_handles() -> None:
    stripe_part = DEPLOYING.split("### Stripe", 1)[1].split("###", 1)[0]
    listed = set(re.findall(r"`((?:invoice|payment_intent|charge)\.[a-z_.]+)`", stripe_part))
    assert listed == FAILURE_EVENTS | SUCCESS_EVENTS
    assert "https://canary.example.com/webhooks/stripe" in stripe_part
    app = create_app(Settings(), temporal=None)
    paths = {r.path for r in api_routes(app)}
    assert {"/webhooks/stripe", "/slack/actions", "/report", "/api/report"} <= paths


def test_readme_compose_services_search_attributes_and_manifest() -> None:
    for service in re.findall(r"`([a-z-]+)` (?:services?|replicas)", DEPLOYING) + [
        "postgresql",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "otel-collector",
    ]:
        assert service in SERVICES, service
    for port in ("8233", "8080", "4317", "4318", "8889", "16686"):
        assert f":{port}" in DEPLOYING, port
    for key in sa.ALL:
        kind = {"KEYWORD": "Keyword", "INT": "Int"}[key.indexed_value_type.name]
        assert re.search(rf"--name {key.name} --type {kind}\b", DEPLOYING), key.name
    assert "(deploy/slack-app-manifest.yaml)" in DEPLOYING
    assert MANIFEST["settings"]["interactivity"]["request_url"] in DEPLOYING
    assert "SLACK_APP_TOKEN" in DEPLOYING and "connections:write" in DEPLOYING
    assert "canary up --socket-mode" in README
