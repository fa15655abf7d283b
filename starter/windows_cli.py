"""`canary windows open | list | end`: quiet windows from the command line.

Kept apart from cli.py like the detector commands; cli.py mounts it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from pydantic import ValidationError

from canary.settings import get_settings

windows_app = typer.Typer(
    help="Quiet windows: times when matching remediations are fixed but ping nobody.",
    no_args_is_help=True,
)


def _run(coro: Any) -> Any:
    from starter.cli import _run as run

    return run(coro)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@windows_app.command("open")
def open_(
    reason: str = typer.Option(..., help="Why, as people will read it: 'Hooli billing migration'."),
    account: str | None = typer.Option(
        None, help="The account: CRM id, Stripe customer id, app account id, domain or name."
    ),
    error_type: str | None = typer.Option(
        None, "--type", help="The error type, e.g. payment_failed."
    ),
    for_: str | None = typer.Option(None, "--for", help="How long: 30m, 12h, 7d, 2w."),
    until: datetime | None = typer.Option(None, help="Or when it ends (ISO 8601, UTC if no zone)."),
    starts: datetime | None = typer.Option(None, help="When it starts (default: now)."),
    by: str = typer.Option(..., "--by", help="Who opens it (a name, an e-mail or a Slack id)."),
    window_id: str | None = typer.Option(None, "--id", help="Its id (default: from the reason)."),
) -> None:
    """Open a quiet window."""
    from canary.client import connect
    from canary.models import QuietWindow
    from starter.windows import WindowError, open_window, parse_duration, window_id_for

    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    starts_at = utc(starts) if starts else datetime.now(UTC)
    try:
        if (for_ is None) == (until is None):
            raise WindowError("say how long with --for, or when it ends with --until")
        ends_at = utc(until) if until else starts_at + parse_duration(str(for_))
        window = QuietWindow(
            id=window_id or window_id_for(reason, starts_at),
            account=account,
            error_type=error_type,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            opened_by=by,
        )
    except (WindowError, ValidationError) as exc:
        raise _fail(f"Not opened: {exc}") from exc

    async def go() -> str:
        settings = get_settings()
        return await open_window(await connect(settings), window, settings)

    try:
        _run(go())
    except WindowError as exc:
        raise _fail(f"Not opened: {exc}") from exc
    typer.echo(
        f"Quiet window {window.id} open: {window.scope()} until "
        f"{window.end:%Y-%m-%d %H:%M} UTC. Remediations it matches are fixed but ping nobody; "
        "what is still open then alerts once."
    )


@windows_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The quiet windows open now (or starting later)."""
    from canary.client import connect
    from starter.windows import list_windows, windows_table

    async def go() -> list[Any]:
        return await list_windows(await connect(get_settings()))

    found = _run(go())
    if as_json:
        typer.echo(json.dumps([w.model_dump(mode="json") for w in found], indent=2))
        return
    typer.echo(windows_table(found, datetime.now(UTC)) if found else "No quiet windows.")


@windows_app.command("end")
def end(
    window_id: str = typer.Argument(..., metavar="ID"),
    by: str = typer.Option(..., "--by", help="Who ends it."),
) -> None:
    """End a quiet window now: what it muted alerts at once."""
    from canary.client import connect
    from starter.windows import WindowError, end_window

    async def go() -> Any:
        return await end_window(await connect(get_settings()), window_id, by)

    try:
        ended = _run(go())
    except WindowError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"Quiet window {ended.id} ended by {ended.ended_by}.")
