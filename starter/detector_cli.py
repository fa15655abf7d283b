"""`canary schedules …`, `canary detectors run` and `canary warehouse seed`.

Kept apart from cli.py so the detector commands live next to each other; cli.py mounts them.
Heavy imports happen inside the commands, so `canary --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from canary.settings import get_settings

schedules_app = typer.Typer(
    help="Detector schedules (Temporal Schedules) from the detector catalog.",
    no_args_is_help=True,
)
detectors_app = typer.Typer(help="Run the detectors by hand.", no_args_is_help=True)
warehouse_app = typer.Typer(help="The SQL warehouse detectors read.", no_args_is_help=True)


def _run(coro: Any) -> Any:
    from starter.cli import _run as run

    return run(coro)


@schedules_app.command("apply")
def schedules_apply(
    prune: bool = typer.Option(False, help="Also delete detector schedules no longer listed."),
) -> None:
    """Create or update one schedule per detector (idempotent; keeps pauses set in the UI)."""
    from canary.client import connect
    from starter.schedules import apply_schedules

    async def go() -> Any:
        settings = get_settings()
        return await apply_schedules(await connect(settings), settings, prune=prune)

    for applied in _run(go()):
        typer.echo(f"{applied.action:<10} {applied.schedule_id}")


@schedules_app.command("list")
def schedules_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the detector schedules, their timing, pause state and next runs."""
    from canary.client import connect
    from starter.schedules import list_schedules

    async def go() -> Any:
        return await list_schedules(await connect())

    found = _run(go())
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "schedule_id": s.schedule_id,
                        "detector_id": s.detector_id,
                        "paused": s.paused,
                        "note": s.note,
                        "timing": s.timing,
                        "next_runs": [n.isoformat() for n in s.next_runs],
                        "recent_runs": s.recent_runs,
                    }
                    for s in found
                ],
                indent=2,
            )
        )
        return
    if not found:
        typer.echo("No detector schedules: run `canary schedules apply`.")
    for s in found:
        upcoming = s.next_runs[0].strftime("%Y-%m-%d %H:%M UTC") if s.next_runs else "-"
        state = "paused " if s.paused else "active "
        typer.echo(f"{state} {s.detector_id:<28} {s.timing:<20} next {upcoming}")


@detectors_app.command("run")
def detectors_run(
    flush: bool = typer.Option(True, help="Post the owners' digests now, not at the hour."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run every enabled detector once now and print what each checked and raised."""
    from canary.client import connect
    from starter.schedules import run_detectors_once

    async def go() -> Any:
        settings = get_settings()
        return await run_detectors_once(await connect(settings), settings, flush_digests=flush)

    results = _run(go())
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
        return
    for r in results:
        typer.echo(f"{r.detector_id:<28} checked {r.checked:>3}  raised {r.raised:>3}")
        for workflow_id in r.workflow_ids:
            typer.echo(f"    → {workflow_id}")
        for skipped in r.skipped:
            typer.echo(f"    skipped {skipped.subject_id}: {skipped.reason}")


@warehouse_app.command("seed")
def warehouse_seed(
    url: str | None = typer.Option(None, help="SQLAlchemy URL (default CANARY_WAREHOUSE_URL)."),
) -> None:
    """Fill the warehouse with the sandbox's demo usage, spend and KPIs (replaces them)."""
    from canary.adapters.warehouse import Warehouse
    from sandbox.warehouse_seed import seed_warehouse

    target = Warehouse(url or get_settings().warehouse_url)
    counts = seed_warehouse(target.engine)
    target.dispose()
    typer.echo(f"Seeded {target.url}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
