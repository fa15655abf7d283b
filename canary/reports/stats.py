"""Percentiles, shared by the report's sections."""

from __future__ import annotations

import math
from collections.abc import Iterable

from canary.reports.models import Percentiles


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default): p50 of 1, 2, 3, 4 is
    2.5, p90 of 10 values lies between the 9th and the 10th."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(values: list[float]) -> Percentiles:
    return Percentiles(count=len(values), p50=percentile(values, 0.5), p90=percentile(values, 0.9))
