"""Percentiles and the printed table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p99/max/mean in milliseconds, from samples in seconds."""
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1) if values else math.nan,
        "mean_ms": round(sum(values) / len(values) * 1000, 1) if values else math.nan,
    }


def p99_by_tenth(due: Sequence[float], late: Sequence[float]) -> list[float]:
    """The p99 of ``late`` in each tenth of the span ``due`` covers (by when each fell due):
    a queue that grows through a storm rises tenth by tenth, a stall shows in one tenth."""
    if not due:
        return []
    start, span = min(due), (max(due) - min(due)) or 1.0
    tenths: list[list[float]] = [[] for _ in range(10)]
    for at, value in zip(due, late, strict=True):
        tenths[min(9, int((at - start) / span * 10))].append(value)
    return [round(percentile(values, 99), 2) if values else math.nan for values in tenths]


def ratio(canary: float, floor: float) -> float:
    return round(canary / floor, 2) if floor else math.inf


def table(rows: list[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table of the figures."""
    header = ["figure", "Canary", "floor", "ratio", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row.get(key, "")) for key in header]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
