"""Reports on the resolution history, computed from Temporal itself (see DESIGN.md §6)."""

from canary.reports.collect import build_report, collect_facts, parse_moment, report_request
from canary.reports.compute import compute_report, phase_seconds
from canary.reports.models import RemediationFacts, Report, ReportRequest
from canary.reports.render import render_html, render_text
from canary.reports.stats import percentile

__all__ = [
    "RemediationFacts",
    "Report",
    "ReportRequest",
    "build_report",
    "collect_facts",
    "compute_report",
    "parse_moment",
    "percentile",
    "phase_seconds",
    "render_html",
    "render_text",
    "report_request",
]
