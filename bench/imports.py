"""`python -m bench.imports`: what a worker's process holds before its first workflow, the
memory of the modules it imports, Canary's worker beside the floor's.

Each side runs in a fresh interpreter and imports, group by group, what its process imports
(the floor: ``bench.floor``; Canary: the ``canary`` command, ``worker``, then the SDKs its
adapters import on their first call), reading the process's RSS after each group. A group's
row is what it added to what the groups above it had loaded, so the rows add up to the whole
and a module two groups share is counted in the first. The worker's RSS with remediations
open (`python -m bench`, "open: worker RSS") starts from these totals.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import subprocess
import sys

#: The groups in the order they are imported: a label, its modules, and which side's process
#: imports them.
GROUPS: list[tuple[str, tuple[str, ...], str]] = [
    ("Python itself", (), "both"),
    (
        "temporalio (client, worker) and pydantic",
        ("temporalio.client", "temporalio.worker"),
        "both",
    ),
    ("httpx", ("httpx",), "both"),
    ("the payload converter both sides use (canary.converter)", ("canary.converter",), "both"),
    ("pydantic-settings", ("pydantic_settings",), "canary"),
    ("typer (the canary command)", ("typer",), "canary"),
    ("aiohttp and slack-sdk", ("aiohttp", "slack_sdk.web.async_client"), "canary"),
    ("requests", ("requests",), "canary"),
    (
        "cryptography (the payload codec, simple-salesforce's JWT)",
        ("cryptography.hazmat.primitives.ciphers.aead",),
        "canary",
    ),
    (
        "OpenTelemetry",
        (
            "opentelemetry.sdk.trace",
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            "temporalio.contrib.opentelemetry",
        ),
        "canary",
    ),
    ("PyYAML", ("yaml",), "canary"),
    ("the bench's floor worker", ("bench.floor",), "floor"),
    (
        "Canary's code (canary, activities, workflows, worker)",
        ("starter.cli", "worker"),
        "canary",
    ),
    (
        "stripe (the Stripe adapter, on its first call)",
        ("canary.adapters.stripe_adapter",),
        "canary",
    ),
    (
        "simple-salesforce with zeep (the Salesforce adapter, on its first call)",
        ("canary.adapters.salesforce_adapter",),
        "canary",
    ),
]
SIDES = ("canary", "floor")


def rss_kb() -> int:
    """This process's RSS. Read here rather than through bench.stack or bench.collector,
    whose own imports (httpx, the tests' fakes) would be counted in the first rows."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(side: str) -> list[tuple[str, int, int]]:
    """In this interpreter: each of the side's groups with the RSS (KB) and the number of
    modules it added."""
    rows = []
    for label, modules, who in GROUPS:
        if who not in (side, "both"):
            continue
        before_kb, before_modules = rss_kb(), len(sys.modules)
        for module in modules:
            importlib.import_module(module)
        gc.collect()
        if label == "Python itself":
            rows.append((label, rss_kb(), len(sys.modules)))
        else:
            rows.append((label, rss_kb() - before_kb, len(sys.modules) - before_modules))
    return rows


def run_side(side: str) -> list[tuple[str, int, int]]:
    """One side measured in a fresh interpreter (nothing imported by the other counts)."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--side", side],
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(row) for row in json.loads(child.stdout)]


def table(canary: list[tuple[str, int, int]], floor: list[tuple[str, int, int]]) -> str:
    sides = [{label: (kb, modules) for label, kb, modules in rows} for rows in (canary, floor)]
    lines = ["| imported | Canary's worker | the floor's |", "|---|---|---|"]
    for label, _, _ in GROUPS:
        cells = [
            f"{side[label][0] / 1024:.1f} MB ({side[label][1]} modules)" if label in side else ""
            for side in sides
        ]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    total_canary, total_floor = (sum(kb for _, kb, _ in rows) / 1024 for rows in (canary, floor))
    lines.append(
        f"| **the whole** | **{total_canary:.1f} MB** | **{total_floor:.1f} MB** "
        f"(Canary {total_canary - total_floor:+.1f} MB) |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side)))
        return
    print(table(run_side("canary"), run_side("floor")))


if __name__ == "__main__":
    main()
