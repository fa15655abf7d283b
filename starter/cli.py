"""The `canary` command: run the stack or its parts, submit detections, inspect and act."""

from __future__ import annotations

import asyncio
import json
import signal as signals
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError

from canary.codec import InvalidPayloadKeysError
from canary.settings import InvalidTokenError, MissingSettingError, get_settings

app = typer.Typer(
    help="Canary: self-healing remediation of go-to-market errors on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from canary.catalog import CatalogError
    from canary.client import TemporalUnavailableError

    try:
        return asyncio.run(coro)
    except (MissingSettingError, TemporalUnavailableError, CatalogError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def _logging() -> None:
    from canary.logs import setup_logging

    setup_logging(get_settings())


# -- running the stack -------------------------------------------------------------------------


@app.command()
def up(
    temporal_port: int = typer.Option(7233, help="Temporal frontend (gRPC) port."),
    ui_port: int = typer.Option(8233, help="Temporal UI port."),
    gateway_port: int = typer.Option(8080, help="Gateway (webhooks, Slack, API) port."),
    sandbox_port: int = typer.Option(8090, help="Sandbox (Stripe, Slack, chat page) port."),
    smtp_port: int = typer.Option(8025, help="The sandbox's SMTP sink (demo e-mail)."),
    data_dir: Path = typer.Option(
        Path(".canary"), help="Temporal's database, the API token and the logs."
    ),
    scenario: bool = typer.Option(
        False,
        help="Feed the demo scenario of GTM errors, on a fresh Temporal database (the previous "
        "one is kept as temporal.previous.db) and a catalog whose soft decline plan retries "
        "in seconds, not days (written as demo-catalog.yaml in the data directory).",
    ),
    encrypt: bool = typer.Option(
        False,
        help="Encrypt every payload (a key made once and kept in the data directory, unless "
        "CANARY_PAYLOAD_KEYS is set) and run the codec server the Temporal UI reads through.",
    ),
    codec_port: int = typer.Option(8081, help="The codec server's port (with --encrypt)."),
    socket_mode: bool = typer.Option(
        False,
        "--socket-mode",
        help="Run the gateway in Slack's Socket Mode, with SLACK_APP_TOKEN or the demo's "
        "app-level token: the chat page's clicks go over its WebSocket, not over HTTP.",
    ),
) -> None:
    """Start Temporal (with UI), the sandbox, the gateway and a worker; Ctrl-C stops all."""
    from starter.stack import Ports, Stack, StackError

    stack = Stack(
        Ports(temporal_port, ui_port, gateway_port, sandbox_port, smtp_port, codec_port),
        data_dir,
        fresh=scenario,
        encrypt=encrypt,
        demo_plan=scenario,
        socket_mode=socket_mode,
    )

    def stop_on_signal(signum: int, _frame: Any) -> None:
        # `kill`, a closed terminal or a supervisor must stop the children too, like Ctrl-C.
        raise KeyboardInterrupt

    signals.signal(signals.SIGTERM, stop_on_signal)
    signals.signal(signals.SIGHUP, stop_on_signal)
    try:
        typer.echo("Starting Temporal, the sandbox, the gateway and a worker…")
        stack.start()
        typer.echo(stack.banner())
        if scenario:
            from starter.scenario import run_scenario

            typer.echo("\nFeeding the demo scenario…")
            for line in run_scenario(stack):
                typer.echo(f"  {line}")
            typer.echo(
                f"\nOpen {stack.sandbox_url}/ and click the buttons; watch "
                f"{stack.ui_url} for the workflows."
            )
        while True:
            problems = stack.healthy()
            if problems:
                raise StackError("; ".join(problems) + f" (see {data_dir}/*.log)")
            time.sleep(1)
    except StackError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.echo("\nStopping…")
    finally:
        stack.stop()


@app.command()
def worker() -> None:
    """Run one worker: the remediation workflows and their activities."""
    from worker import run_worker

    _logging()
    _run(run_worker())


@app.command()
def gateway(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve webhooks (Stripe), Slack button clicks and the detection API."""
    import uvicorn

    from canary.catalog import CatalogError, cached_catalog
    from starter.gateway.app import create_app

    _logging()
    try:
        application = create_app(get_settings())
        # Read once, here: the first webhook does not wait on it, and a broken catalog
        # stops the gateway with where and why instead of failing every webhook.
        cached_catalog(get_settings().catalog_path)
    except (MissingSettingError, CatalogError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command("codec-server")
def codec_server(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8081, help="Port to listen on."),
) -> None:
    """Decrypt payloads for the Temporal UI and CLI, for those given CANARY_CODEC_TOKEN."""
    import uvicorn

    from starter.codec_server import create_codec_app

    _logging()
    try:
        application = create_codec_app(get_settings())
    except MissingSettingError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8090, help="Port to listen on."),
    interactivity_url: str | None = typer.Option(
        None, help="Where chat-page clicks are sent (the gateway's /slack/actions)."
    ),
    command_url: str | None = typer.Option(
        None, help="Where /canary typed on the chat page is sent (the gateway's /slack/commands)."
    ),
    signing_secret: str | None = typer.Option(
        None, envvar="SLACK_SIGNING_SECRET", help="Slack signing secret for those clicks."
    ),
    smtp_port: int | None = typer.Option(
        None, help="Also receive e-mail on this SMTP port (listed at /_sandbox/mail)."
    ),
) -> None:
    """Serve the local stand-ins for Stripe, Slack, Salesforce, e-mail and the chat page."""
    from sandbox import SandboxConfig, run

    config = SandboxConfig(
        public_url=f"http://{host}:{port}",
        slack_interactivity_url=interactivity_url,
        slack_command_url=command_url,
        slack_signing_secret=signing_secret,
        smtp_port=smtp_port,
    )
    run(host, port, config)


# -- remediations ------------------------------------------------------------------------------


@app.command()
def detect(
    file: str = typer.Argument(..., help="A Detection as JSON, or - for standard input."),
) -> None:
    """Submit one detection; prints the workflow id of its remediation."""
    from canary.client import connect
    from canary.models import ReportedDetection
    from starter.intake import submit_detection

    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        # A report: its Stripe and Salesforce ids are checked (a URL or a path is refused).
        detection = TypeAdapter(ReportedDetection).validate_json(text)
    except ValidationError as exc:
        typer.secho(f"Not a valid detection:\n{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc

    async def go() -> str:
        settings = get_settings()
        submitted = await submit_detection(await connect(settings), detection, settings)
        return submitted.workflow_id

    typer.echo(_run(go()))


def _status_table(status: Any) -> str:
    lines = [
        f"{status.workflow_id}",
        f"  {status.headline}",
        f"  type {status.error_type} · state {status.state} · outcome {status.outcome or '-'}"
        f" · severity {status.severity} · escalation {status.escalation_level}",
        f"  account {status.account.label()} · owner {status.owner or '-'} · occurrences "
        f"{status.occurrences} · attempts {status.attempts}",
    ]
    if getattr(status, "actions", None):
        lines.append(f"  actions: {', '.join(status.actions)}")
    for entry in getattr(status, "timeline", []):
        lines.append(
            f"  {entry.at:%Y-%m-%d %H:%M:%S} {entry.kind:<15} {entry.actor:<10} {entry.text}"
        )
    return "\n".join(lines)


@app.command()
def status(
    workflow_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one remediation: state, outcome, escalation level and timeline."""
    from canary.client import connect
    from starter.intake import get_status

    async def go() -> Any:
        return await get_status(await connect(), workflow_id)

    found = _run(go())
    if found is None:
        typer.secho(f"No remediation {workflow_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(found.model_dump_json(indent=2) if as_json else _status_table(found))


@app.command("list")
def list_(
    open_only: bool = typer.Option(
        False, "--open", help="Only open ones (a remediation cooling down after it closed is not)."
    ),
    error_type: str | None = typer.Option(None, "--type", help="Only this error type."),
    limit: int = typer.Option(100, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List remediations, newest first."""
    from canary.client import connect
    from starter.listing import list_remediations, listing_table

    async def go() -> list[Any]:
        return await list_remediations(await connect(), open_only, error_type, limit)

    found = _run(go())
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
        return
    typer.echo(listing_table(found) if found else "No remediations.")


@app.command()
def signal(
    workflow_id: str = typer.Argument(..., metavar="ID"),
    action: str = typer.Argument(..., help="approve, retry, resolve, snooze, dismiss, …"),
    by: str = typer.Option("cli", "--by", help="Who is acting (a Slack user id or a name)."),
    note: str | None = typer.Option(None, "--note", help="A note for the timeline."),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (required to dismiss; what fixed it, to mark resolved)."
    ),
    until: datetime | None = typer.Option(
        None, "--until", help="A snooze's end (ISO 8601, UTC if no zone)."
    ),
) -> None:
    """Take a person's action on a remediation, as a button click would."""
    from canary.client import connect
    from canary.models import ActionRequest
    from starter.intake import take_action

    snooze_until = until.replace(tzinfo=until.tzinfo or UTC) if until else None

    async def go() -> Any:
        request = ActionRequest(
            action=action,
            user=by,
            note=note,
            reason=reason,
            snooze_until=snooze_until,
            source="cli",
        )
        return await take_action(await connect(), workflow_id, request)

    result = _run(go())
    typer.echo(result.message)
    if not result.accepted:
        raise typer.Exit(1)


# -- history: reports, export, replay ---------------------------------------------------------


@app.command()
def report(
    since: str = typer.Option("7d", help="Window start: 7d, 12h, 30m, 2w before --until, or ISO."),
    until: str | None = typer.Option(None, help="Window end: ISO date/time or 1d (ago); now."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    as_html: bool = typer.Option(False, "--html", help="Print the dashboard page (HTML)."),
    limit: int = typer.Option(2000, help="Read at most this many workflow runs."),
) -> None:
    """What still needs fixing, how often, how long it takes, what clusters (from Temporal)."""
    from canary.client import connect
    from canary.reports import build_report, render_html, render_text, report_request

    if as_json and as_html:
        typer.secho("Choose one of --json and --html.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        request = report_request(since, until, limit=limit)
    except (ValueError, ValidationError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc

    async def go() -> Any:
        settings = get_settings()
        return await build_report(await connect(settings), settings, request)

    found = _run(go())
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
    elif as_html:
        typer.echo(render_html(found))
    else:
        typer.echo(render_text(found))


@app.command()
def export(
    workflow_id: str = typer.Argument(..., metavar="ID"),
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
    run_id: str | None = typer.Option(None, "--run-id", help="A specific run (default: latest)."),
) -> None:
    """Write a remediation's full history in Temporal's JSON history format."""
    from temporalio.service import RPCError

    from canary.client import connect
    from starter.replay import export_history

    async def go() -> str:
        return await export_history(await connect(), workflow_id, run_id)

    try:
        text = _run(go())
    except RPCError as exc:
        typer.secho(f"Cannot export {workflow_id}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text)
        typer.echo(f"Wrote {output}", err=True)


@app.command()
def replay(
    targets: list[str] = typer.Argument(
        None, metavar="ID|FILE|DIR...", help="Workflow ids, exported JSON files or folders."
    ),
    query: str | None = typer.Option(
        None,
        "--query",
        help="Also every run matching this visibility query, e.g. "
        "\"WorkflowType = 'RemediationWorkflow' AND ExecutionStatus = 'Completed'\".",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
) -> None:
    """Replay histories against the current workflow code: ok or non-deterministic (why).

    Exits 1 when any history fails to replay."""
    from temporalio.client import WorkflowHistory
    from temporalio.service import RPCError

    from canary.client import connect
    from starter.replay import (
        ReplayOutcome,
        histories_from_temporal,
        history_files,
        history_from_file,
        replay_histories,
    )

    targets = targets or []
    if not targets and not query:
        typer.secho("Give workflow ids, files or --query.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    files: list[tuple[WorkflowHistory, str]] = []
    ids: list[str] = []
    for target in targets:
        path = Path(target)
        if path.exists():
            for file in history_files(path):
                try:
                    files.append((history_from_file(file), str(file)))
                except (ValueError, OSError) as exc:
                    typer.secho(f"{file}: not a history: {exc}", fg=typer.colors.RED, err=True)
                    raise typer.Exit(2) from exc
        else:
            ids.append(target)

    async def go() -> list[ReplayOutcome]:
        outcomes = await replay_histories(files)
        if ids or query:
            client = await connect()
            outcomes += await replay_histories(histories_from_temporal(client, ids, query))
        return outcomes

    try:
        outcomes = _run(go())
    except RPCError as exc:
        typer.secho(f"Cannot read histories from Temporal: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps([o.model_dump() for o in outcomes], indent=2))
    else:
        for outcome in outcomes:
            line = f"{outcome.result:<18} {outcome.workflow_id}"
            if outcome.run_id:
                line += f" ({outcome.run_id})"
            if outcome.reason:
                line += f": {outcome.reason}"
            typer.echo(line)
        failed = sum(1 for o in outcomes if not o.ok)
        typer.echo(f"{len(outcomes) - failed} ok, {failed} failed")
    if not outcomes or any(not o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command()
def whatif(
    catalog_path: Path = typer.Option(
        ..., "--catalog", help="The catalog to try: a YAML file or a folder of them."
    ),
    since: str = typer.Option("30d", help="Window start: 30d, 12h, 2w before now, or ISO."),
    error_type: str | None = typer.Option(
        None, "--type", help="Only remediations that were, or would be, of this type."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    limit: int = typer.Option(2000, help="Read at most this many remediations."),
    files: list[Path] = typer.Argument(
        None,
        metavar="[FILE|DIR...]",
        help="Exported histories (canary export) to read instead of Temporal's.",
    ),
) -> None:
    """What another SOP catalog would have done with past remediations, read from their
    histories (no call to Stripe, Salesforce or Slack): per remediation what changes, and
    a summary. Exits 1 when a report a known SOP handled would become unknown."""
    from temporalio.service import RPCError

    from activities.investigate import diagnosis_env
    from canary.catalog import CatalogError, load_catalog
    from canary.client import connect, data_converter
    from canary.reports.collect import parse_moment
    from starter.whatif import histories_of_window, history_files, render_text, what_if

    try:
        other = load_catalog(catalog_path)
        start = parse_moment(since, datetime.now(UTC))
    except (CatalogError, ValueError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    settings = get_settings()

    async def go() -> Any:
        if files:
            histories = history_files(files)
        else:
            histories = await histories_of_window(await connect(settings), start, limit)
        return await what_if(
            histories,
            other,
            str(catalog_path),
            data_converter(settings),
            diagnosis_env(settings),
            error_type,
            None if files else start,
        )

    try:
        result = _run(go())
    except RPCError as exc:
        typer.secho(f"Cannot read histories from Temporal: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(result.model_dump_json(indent=2) if as_json else render_text(result))
    if result.summary.became_unknown:
        raise typer.Exit(1)


# -- detectors ---------------------------------------------------------------------------------

from starter.detector_cli import (  # noqa: E402 - mounted after app exists
    detectors_app,
    schedules_app,
    warehouse_app,
)

app.add_typer(schedules_app, name="schedules")
app.add_typer(detectors_app, name="detectors")
app.add_typer(warehouse_app, name="warehouse")

from starter.windows_cli import windows_app  # noqa: E402 - mounted after app exists

app.add_typer(windows_app, name="windows")


def main() -> None:
    """The ``canary`` command. Once a command has finished (its own cleanup included), leave
    with its exit status without the interpreter's teardown, where Temporal's core can panic
    and abort (temporalio/sdk-python#300), so scripts and CI see the command's own answer."""
    import logging
    import os

    try:
        app()
        code = 0
    except InvalidTokenError as exc:
        # Settings are read first by almost every command: a token that would weaken the
        # gateway stops them all with the variable's name instead of a traceback.
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        code = 2
    except InvalidPayloadKeysError as exc:
        # A malformed CANARY_PAYLOAD_KEYS stops every command with what is wrong, never a key.
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        code = 2
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int | None):
            print(exit_.code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
