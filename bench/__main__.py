"""`make bench` / `python -m bench`: Canary against a bare-Temporal floor, in one run.

    python -m bench                 the full run (100 samples, 1,000 burst, 10,000 open)
    python -m bench --quick         a smoke run (BENCH_QUICK=1 does the same)
    python -m bench --scale 0.2     every count times 0.2 (BENCH_SCALE)
    python -m bench --only burst    some figures only (time_to_alert, button_to_action,
                                    time_to_alert_slow_slack, burst, burst_two_workers,
                                    open_remediations, open_remediations_two_workers;
                                    --only once per figure)
    python -m bench --profile       run the workers, the gateway and the sandbox under
                                    pyinstrument and write bench/results/profile-*.txt

A full run writes bench/results/latest.json and the table in bench/README.md; a scaled-down
run writes bench/results/quick.json and leaves the published figures alone. Each figure's
results are written as it ends (latest.running.json / quick.running.json), so a run that
stops early keeps what it measured; each escalation storm runs on a dev server of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench import codec as payload_codec
from bench.figures import FIGURES, Bench, Scale
from bench.stack import BenchStack
from bench.stats import percentile, ratio, table
from canary.converter import canary_data_converter

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from starter.stack import temporal_binary

    cli = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True)
    import temporalio

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "temporal_cli": cli.stdout.strip(),
        "load_before": os.getloadavg()[0],
    }


def rows(results: dict[str, Any], cpu: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The printed/README table: one row per figure, Canary, floor, ratio, target; with the
    CPU seconds per phase, the burst's CPU per remediation, the sandbox counted apart."""
    out: list[dict[str, Any]] = []
    alert = results.get("time_to_alert")
    if alert:
        c, f = alert["canary"], alert["floor"]
        r = ratio(c["p50_ms"], f["p50_ms"])
        out.append(
            {
                "figure": "time to alert p50 (webhook → Slack post)",
                "Canary": f"{c['p50_ms']} ms",
                "floor": f"{f['p50_ms']} ms (start → post)",
                "ratio": f"{r}×",
                "target": "≤ 1.0×",
                "met": yes(r <= 1.0),
            }
        )
        r99 = ratio(c["p99_ms"], f["p99_ms"])
        out.append(
            {
                "figure": "time to alert p99",
                "Canary": f"{c['p99_ms']} ms",
                "floor": f"{f['p99_ms']} ms",
                "ratio": f"{r99}×",
                "target": "≤ 1.0×",
                "met": yes(r99 <= 1.0),
            }
        )
    out += slow_slack_rows(results.get("time_to_alert_slow_slack"))
    button = results.get("button_to_action")
    if button:
        c, f = button["canary"], button["floor"]
        r = ratio(c["p50_ms"], f["p50_ms"])
        out.append(
            {
                "figure": "button to action p50 (signed click received → retry activity started)",
                "Canary": f"{c['p50_ms']} ms",
                "floor": f"{f['p50_ms']} ms (update RTT)",
                "ratio": f"{r}×",
                "target": "≤ 1.0×",
                "met": yes(r <= 1.0),
            }
        )
        r99 = ratio(c["p99_ms"], f["p99_ms"])
        out.append(
            {
                "figure": "button to action p99",
                "Canary": f"{c['p99_ms']} ms",
                "floor": f"{f['p99_ms']} ms",
                "ratio": f"{r99}×",
                "target": "≤ 1.0×",
                "met": yes(r99 <= 1.0),
            }
        )
        whole = button.get("canary_end_to_end")
        if whole:
            out.append(
                {
                    "figure": "button, whole trip p50 / p99 (sandbox click → Stripe receives it)",
                    "Canary": f"{whole['p50_ms']} / {whole['p99_ms']} ms",
                    "floor": "",
                    "ratio": "",
                }
            )
    burst = results.get("burst")
    burst_ms: float | None = None  # Canary's CPU per remediation in the burst, sandbox apart
    if burst:
        found, burst_ms = burst_rows(burst, cpu, "burst", "burst")
        out += found
    two = results.get("burst_two_workers")
    if two:
        found, _ = burst_rows(
            two, cpu, "burst, two workers", f"burst, two workers ({cache_label(two)})", "2"
        )
        out += found
        if burst:
            out.append(
                {
                    "figure": "burst: rate with two workers / with one (medians)",
                    "Canary": f"{ratio(two['canary']['per_s'], burst['canary']['per_s'])}×",
                    "floor": f"{ratio(two['floor']['per_s'], burst['floor']['per_s'])}×",
                    "ratio": "",
                }
            )
    codec = results.get("payload_codec")
    if codec:
        share = ""
        if burst_ms:
            added = round(100 * codec["ms_per_remediation_p50"] / burst_ms, 2)
            share = f"+{added}% of Canary's CPU per remediation in the burst"
        out.append(
            {
                "figure": "payload codec: encrypt + decrypt every payload of a remediation "
                f"(recorded histories: median {codec['payloads_per_remediation']} payloads, "
                f"{codec['kb_per_remediation']} KB)",
                "Canary": f"{codec['ms_per_remediation_p50']} ms "
                f"(max {codec['ms_per_remediation_max']})",
                "floor": "none (payloads in the clear)",
                "ratio": share,
            }
        )
    opened = results.get("open_remediations")
    if opened:
        c, f = opened["canary"], opened["floor"]
        rss = ratio(c["rss_mb_all_open"], f["rss_mb_all_open"])
        out.append(
            {
                "figure": f"open: worker RSS, {c['n']} waiting on people (peak)",
                "Canary": f"{c['rss_mb_all_open']} MB ({c['peak_rss_mb']})",
                "floor": f"{f['rss_mb_all_open']} MB ({f['peak_rss_mb']})",
                "ratio": f"{rss}× ({ratio(c['peak_rss_mb'], f['peak_rss_mb'])}× peak)",
                "target": "≤ 1.5×",
                "met": yes(rss <= 1.5),
            }
        )
        cl, fl = c["due_to_escalation_posted_s"], f["due_to_escalation_posted_s"]
        late = ratio(cl.get("p99", 0), fl.get("p99", 0))
        out.append(
            {
                "figure": "open: escalation due → posted, p50 / p99 / max",
                "Canary": f"{cl.get('p50')} / {cl.get('p99')} / {cl.get('max')} s",
                "floor": f"{fl.get('p50')} / {fl.get('p99')} / {fl.get('max')} s",
                "ratio": f"{late}× (p99)",
                "target": "≤ 3× (p99)",
                "met": (
                    f"not comparable ({unlike})"
                    if (unlike := unlike_storms(c, f))
                    else yes(late <= 3)
                ),
            }
        )
        out += intake_rows(c, f, "open")
        out += storm_tenths_rows(c, f, "open")
        out += escalation_cpu_rows(c, f, ("worker",), ("floor",), "open")
        out += slack_calls_rows(c, f, "open")
        fired = c.get("timer_fired_lateness_s_sample")
        if fired and fired.get("n"):
            out.append(
                {
                    "figure": f"open: escalation timer due → fired (Temporal's TimerFired, "
                    f"{fired['n']} sampled), p50 / p99 / max",
                    "Canary": f"{fired.get('p50')} / {fired.get('p99')} / {fired.get('max')} s",
                    "floor": "",
                    "ratio": "",
                    "target": "within seconds",
                    "met": yes(fired.get("max", 99) <= 10),
                }
            )
        if retried := c.get("workflow_tasks_retried_sample"):
            out.append(retried_tasks_row(retried, "open"))
        out.append(
            {
                "figure": "open: escalation timers lost (never fired)",
                "Canary": timers_lost(c),
                "floor": f["lost"],
                "ratio": "",
                "target": "0",
                "met": yes(timers_lost(c) == 0),
            }
        )
        unposted = c.get("unposted_when_stopped", c["n"] - c["escalations_posted"])
        if unposted:
            out.append(
                {
                    "figure": "open: escalations fired but not yet in Slack when the bench "
                    "stopped waiting",
                    "Canary": unposted,
                    "floor": f.get("unposted_when_stopped", f["lost"]),
                    "ratio": "",
                }
            )
    out += two_workers_open_rows(results.get("open_remediations_two_workers"), opened)
    return out


def slack_calls_rows(c: dict[str, Any], f: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """The Slack calls each side made while its escalations were posted, per escalation
    posted, by method (Homes and digests included: whatever the storm set off)."""

    def per_escalation(side: dict[str, Any]) -> str:
        calls = {k: v for k, v in side.get("slack_calls_escalating", {}).items() if k != "last_id"}
        posted = side.get("escalations_posted") or 0
        if not calls or not posted:
            return ""
        total = sum(calls.values()) / posted
        each = ", ".join(
            f"{path.removeprefix('/api/')} {count / posted:.2f}"
            for path, count in sorted(calls.items(), key=lambda kv: -kv[1])
        )
        return f"{total:.2f} ({each})"

    if not c.get("slack_calls_escalating"):
        return []
    return [
        {
            "figure": f"{label}: Slack calls per escalation posted, by method",
            "Canary": per_escalation(c),
            "floor": per_escalation(f),
            "ratio": "",
        }
    ]


def retried_tasks_row(retried: dict[str, int], label: str) -> dict[str, Any]:
    """How many workflow tasks of the storm's sampled histories were tried again (timed out
    or failed, each then replayed and done again), and the failures' causes."""
    causes = ", ".join(f"{k} {v}" for k, v in retried.items() if ": " in k)
    return {
        "figure": f"{label}: workflow tasks tried again, in {retried['histories']} sampled "
        "histories: timed out / failed (in how many histories)",
        "Canary": f"{retried['timed_out']} / {retried['failed']} ({retried['in_histories']})"
        + (f"; {causes}" if causes else ""),
        "floor": "",
        "ratio": "",
    }


def slow_slack_rows(slow: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Time to alert with every Slack call answered late, and the Slack calls each side made
    before its alert's post (median ms after the webhook or start; in how many samples)."""
    if not slow:
        return []
    c, f = slow["canary"], slow["floor"]
    delay = round(slow["slack_delay_s"] * 1000)
    return [
        {
            "figure": f"time to alert, Slack answering in {delay} ms a call: p50 / p99",
            "Canary": f"{c['p50_ms']} / {c['p99_ms']} ms",
            "floor": f"{f['p50_ms']} / {f['p99_ms']} ms",
            "ratio": f"{ratio(c['p50_ms'], f['p50_ms'])}× / {ratio(c['p99_ms'], f['p99_ms'])}×",
        },
        {
            "figure": f"time to alert, Slack at {delay} ms: the Slack calls answered before "
            "the alert's post (median ms after the webhook; samples with the call)",
            "Canary": calls_text(slow["canary_calls_before_alert"]),
            "floor": calls_text(slow["floor_calls_before_alert"]),
            "ratio": "",
        },
        {
            "figure": f"time to alert, Slack at {delay} ms: the calls after the alert's post, "
            f"until Slack had {slow['settle_s']:g} s without a call (not waited for)",
            "Canary": calls_text(slow.get("canary_calls_after_alert", [])),
            "floor": calls_text(slow.get("floor_calls_after_alert", [])),
            "ratio": "",
        },
    ]


def calls_text(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return "none"
    return ", ".join(
        f"{call['call']} +{call['median_ms']:.0f} ({call['samples']}/{call['of']})"
        for call in calls
    )


def cache_label(result: dict[str, Any]) -> str:
    return f"each caching {result['cache_per_worker']} workflows"


def burst_rows(
    burst: dict[str, Any],
    cpu: dict[str, Any] | None,
    phase: str,
    label: str,
    second: str = "",
) -> tuple[list[dict[str, Any]], float | None]:
    """A burst's rate and CPU per remediation (its phases' CPU, every worker of the run
    counted; ``second`` names the second worker's suffix: worker2, floor2)."""
    out: list[dict[str, Any]] = []
    c, f = burst["canary"], burst["floor"]
    rounds = int(burst.get("rounds", 1))
    pairs = burst.get("paired_ratios") or []
    # Several rounds: the median of each round's Canary / floor (run back to back).
    r = percentile(pairs, 50) if pairs else ratio(c["per_s"], f["per_s"])
    of = f" (median of {rounds} rounds: {rates(c)})" if rounds > 1 else f" ({c['seconds']} s)"
    one = not second
    out.append(
        {
            "figure": f"{label}: {c['n']} detections → all notified",
            "Canary": f"{c['per_s']}/s{of}",
            "floor": f"{f['per_s']}/s"
            + (f" ({rates(f)})" if rounds > 1 else f" ({f['seconds']} s)"),
            "ratio": f"{r}×" + (f" (rounds: {', '.join(map(str, pairs))})" if pairs else ""),
            "target": "≥ 0.85×" if one else "",
            "met": yes(r >= 0.85) if one else "",
        }
    )
    mine: float | None = None
    ours, base = (cpu or {}).get(f"{phase} (Canary)"), (cpu or {}).get(f"{phase} (floor)")
    if ours and base:
        workers = ("worker", f"worker{second}") if second else ("worker",)
        floors = ("floor", f"floor{second}") if second else ("floor",)
        mine = burst_cpu_ms(ours, c["n"] * rounds, (*workers, "gateway", "temporal"))
        theirs = burst_cpu_ms(base, f["n"] * rounds, (*floors, "temporal"))
        spent = ratio(mine, theirs)
        out.append(
            {
                "figure": f"{label}: CPU per remediation, sandbox apart ("
                + ", ".join(workers)
                + ", gateway, Temporal)",
                "Canary": f"{mine} ms",
                "floor": f"{theirs} ms",
                "ratio": f"{spent}×",
                "target": "≤ 1.2×" if one else "",
                "met": yes(spent <= 1.2) if one else "",
            }
        )
    return out, mine


def unlike_storms(c: dict[str, Any], f: dict[str, Any]) -> str:
    """Why the two sides' storms cannot be compared, or "" when they can: a storm that
    overlapped its own intake measured the intake too, and escalations that fell due at
    different paces (the floor unable to keep Canary's timeline, or a run before the floor
    followed it) make storms of different intensity."""
    if c.get("overlapped_intake") or f.get("overlapped_intake"):
        return "a storm overlapped its intake"
    if "behind_canary_timeline_s" not in f:
        return "each side opened at its own pace"
    if f["intake_seconds"] > c["intake_seconds"] * 1.05 + 2:
        return "the floor fell behind Canary's pace"
    return ""


def intake_rows(c: dict[str, Any], f: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """How fast each side opened its remediations, which is the pace its escalations fell
    due at; the floor follows Canary's timeline, and how far behind it its alerts came."""
    if "intake_per_s" not in c:
        return []
    behind = f.get("behind_canary_timeline_s", {})
    return [
        {
            "figure": f"{label}: intake, {c['n']} opened → alerted (the pace escalations "
            "fall due at); the floor on Canary's timeline, its alerts behind it p50 / p99",
            "Canary": f"{c['intake_per_s']}/s ({c['intake_seconds']} s)",
            "floor": f"{f.get('intake_per_s')}/s ({f['intake_seconds']} s); "
            f"behind {behind.get('p50')} / {behind.get('p99')} s",
            "ratio": "",
        }
    ]


def storm_tenths_rows(c: dict[str, Any], f: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """Due → posted p99 in each tenth of the storm, by when the escalations fell due: a queue
    growing through the storm climbs tenth by tenth, a stall shows in one tenth."""
    key = "p99_by_tenth_of_the_storm_s"
    if key not in c:
        return []
    return [
        {
            "figure": f"{label}: due → posted p99 in each tenth of the storm (s)",
            "Canary": " · ".join(f"{v:g}" for v in c[key]),
            "floor": " · ".join(f"{v:g}" for v in f.get(key, [])),
            "ratio": "",
        }
    ]


def two_workers_open_rows(
    two: dict[str, Any] | None, one: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The escalation storm on two workers a side: due → posted, lost, each worker's RSS,
    and the p99 against one worker's when both ran."""
    if not two:
        return []
    c, f = two["canary"], two["floor"]
    label = f"open, two workers ({cache_label(two)})"
    cl, fl = c["due_to_escalation_posted_s"], f["due_to_escalation_posted_s"]
    out: list[dict[str, Any]] = [
        {
            "figure": f"{label}: escalation due → posted, {c['n']} open, p50 / p99 / max",
            "Canary": f"{cl.get('p50')} / {cl.get('p99')} / {cl.get('max')} s",
            "floor": f"{fl.get('p50')} / {fl.get('p99')} / {fl.get('max')} s",
            "ratio": f"{ratio(cl.get('p99', 0), fl.get('p99', 0))}× (p99)"
            + (f", not comparable ({unlike})" if (unlike := unlike_storms(c, f)) else ""),
        },
        *intake_rows(c, f, label),
        *storm_tenths_rows(c, f, label),
        *escalation_cpu_rows(c, f, ("worker", "worker2"), ("floor", "floor2"), label),
        {
            "figure": f"{label}: escalation timers lost (never fired)",
            "Canary": timers_lost(c),
            "floor": f["lost"],
            "ratio": "",
            "target": "0",
            "met": yes(timers_lost(c) == 0),
        },
        {
            "figure": f"{label}: RSS of each worker, all open (peak)",
            "Canary": per_worker_mb(c),
            "floor": per_worker_mb(f),
            "ratio": f"{ratio(c['peak_rss_mb'], f['peak_rss_mb'])}× (largest peak)",
        },
    ]
    unposted = c.get("unposted_when_stopped", 0)
    if unposted or f.get("unposted_when_stopped"):
        out.append(
            {
                "figure": f"{label}: escalations fired but not yet in Slack when the bench "
                "stopped waiting",
                "Canary": unposted,
                "floor": f.get("unposted_when_stopped", f["lost"]),
                "ratio": "",
            }
        )
    if one:
        p99 = {
            side: ratio(
                two[side]["due_to_escalation_posted_s"].get("p99", 0),
                one[side]["due_to_escalation_posted_s"].get("p99", 0),
            )
            for side in ("canary", "floor")
        }
        out.append(
            {
                "figure": "open: escalation due → posted p99, two workers / one "
                f"({one['canary']['n']} open with one, {c['n']} with two)",
                "Canary": f"{p99['canary']}×",
                "floor": f"{p99['floor']}×",
                "ratio": "",
            }
        )
    return out


def per_worker_mb(side: dict[str, Any]) -> str:
    now = side.get("rss_mb_per_worker", [side["rss_mb_all_open"]])
    peak = side.get("peak_rss_mb_per_worker", [side["peak_rss_mb"]])
    return f"{' + '.join(map(str, now))} MB ({' + '.join(map(str, peak))})"


def escalation_cpu_rows(
    c: dict[str, Any],
    f: dict[str, Any],
    workers: tuple[str, ...],
    floors: tuple[str, ...],
    label: str,
) -> list[dict[str, Any]]:
    """CPU per escalation while the storm's escalations are posted: the workers' and the
    Temporal server's, each side (runs before 2026-12-05 did not measure it)."""
    ours, base = c.get("cpu_s_escalating"), f.get("cpu_s_escalating")
    if not ours or not base:
        return []
    out = []
    for part, mine, theirs in (
        (" + ".join(workers), workers, floors),
        ("Temporal", ("temporal",), ("temporal",)),
    ):
        spent = burst_cpu_ms(ours, c["n"], mine)
        floor_spent = burst_cpu_ms(base, f["n"], theirs)
        out.append(
            {
                "figure": f"{label}: CPU per escalation posted, {part}",
                "Canary": f"{spent} ms",
                "floor": f"{floor_spent} ms",
                "ratio": f"{ratio(spent, floor_spent)}×",
            }
        )
    ours_cache, base_cache = c.get("workflow_cache"), f.get("workflow_cache")
    if ours_cache and base_cache:
        out.append(
            {
                "figure": f"{label}: workflow cache while escalating, hits / misses (evictions)",
                "Canary": cache_line(ours_cache),
                "floor": cache_line(base_cache),
                "ratio": "",
            }
        )
    return out


def cache_line(cache: dict[str, int]) -> str:
    return f"{cache['hits']:,} / {cache['misses']:,} ({cache['evictions']:,})"


def rates(run: dict[str, Any]) -> str:
    return ", ".join(f"{v}" for v in run.get("per_s_rounds", [run["per_s"]]))


def burst_cpu_ms(usage: dict[str, float], n: int, parts: tuple[str, ...]) -> float:
    return round(sum(usage.get(p, 0.0) for p in parts) / max(n, 1) * 1000, 1)


def timers_lost(c: dict[str, Any]) -> int:
    """Remediations whose escalation timer never fired (their escalation level stayed 0);
    runs before 2026-11-23 counted a post not seen in time as lost."""
    if "escalated" in c:
        return int(c["n"] - c["escalated"])
    return int(c["lost"])


def yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def write_readme(report: dict[str, Any], markdown: str) -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    m = report["machine"]
    block = "\n".join(
        [
            MARK_START,
            f"Measured {report['date'][:10]} on {m['cpu']} ({m['cores']} cores, "
            f"{m['memory_gb']} GB), {m['os']}, Python {m['python']}, temporalio "
            f"{m['temporalio']}, {m['temporal_cli']}; counts: {report['scale']}.",
            "",
            markdown,
            MARK_END,
        ]
    )
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


async def run(args: argparse.Namespace) -> int:
    full = not args.quick and args.scale == 1.0
    scale = Scale.quick() if args.quick else Scale()
    if args.scale != 1.0:
        scale = scale.scaled(args.scale)
    figures = args.only or list(FIGURES)
    run_dir = Path(tempfile.mkdtemp(prefix="canary-bench-"))
    RESULTS.mkdir(exist_ok=True)
    stack = BenchStack(run_dir, profile_dir=RESULTS if args.profile else None)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "scale": vars(scale),
        "figures_run": figures,
    }
    target = RESULTS / ("latest.json" if full and not args.only else "quick.json")
    # Rewritten after each figure: a run that stops early (a child dead, the machine out of
    # memory) keeps every figure it finished, and says which one stopped it.
    running = target.with_name(f"{target.stem}.running.json")
    print(f"Canary benchmark — {scale} — children's logs in {run_dir}")
    failed: str | None = None
    # Its children run in sessions of their own: stopped (SIGTERM, as by `kill`), the run
    # cancels itself so that they stop with it.
    this_run = asyncio.current_task()
    assert this_run is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this_run.cancel)
    try:
        stack.start()
        stack.start_worker()
        stack.start_floor_worker()
        client = await Client.connect(stack.temporal_address, data_converter=canary_data_converter)
        # Idle connections dropped before uvicorn's own 5 s keep-alive ends them: a request
        # sent on a connection the server is closing fails ("server disconnected").
        limits = httpx.Limits(
            max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0
        )
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            bench = Bench(stack, scale, http, client, figures=tuple(figures))
            report["results"], report["cpu_seconds"] = bench.results, bench.cpu
            await bench.wait_log("worker", "polling task queue")
            await bench.wait_log("floor", "floor worker polling")
            await bench.prepare()
            for figure in (f for f in FIGURES if f in figures):
                try:
                    await getattr(bench, figure)()
                except Exception as error:  # noqa: BLE001 - kept, reported, and the run stops
                    failed = figure
                    report["failed"] = {"figure": figure, "error": repr(error)[:2000]}
                    print(f"\n{figure} stopped the run: {error!r}", file=sys.stderr)
                    break
                finally:
                    running.write_text(json.dumps(report, indent=2, default=str) + "\n")
        if failed is None:
            # In this process, on the recorded histories: no stack involved.
            report["results"]["payload_codec"] = payload_codec.measure()
    finally:
        stack.close()
    markdown = table(rows(report.get("results", {}), report.get("cpu_seconds")))
    print()
    print(markdown)
    print("\nCPU seconds per phase (sandbox counted apart from Canary's own processes):")
    for phase, usage in report.get("cpu_seconds", {}).items():
        print(f"  {phase}: " + ", ".join(f"{k} {v}" for k, v in usage.items()))
    if failed is not None:
        kept = running.relative_to(HERE.parent)
        print(f"\nthe run stopped in {failed}; what it measured is in {kept}")
        print(f"logs kept in {run_dir}")
        return 1
    running.unlink(missing_ok=True)
    target.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {target.relative_to(HERE.parent)}")
    if full and not args.only and not args.profile:
        write_readme(report, markdown)
        print("updated bench/README.md")
    if args.keep:
        print(f"logs kept in {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("BENCH_QUICK", "") not in ("", "0")
    )
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--only", action="append", choices=FIGURES)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the children's logs")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only print the table of bench/results/latest.json and write it to bench/README.md",
    )
    args = parser.parse_args()
    if args.render:
        report = json.loads((RESULTS / "latest.json").read_text())
        markdown = table(rows(report["results"], report.get("cpu_seconds")))
        print(markdown)
        write_readme(report, markdown)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
