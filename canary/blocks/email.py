"""E-mail versions of a remediation's alert (pure, so the workflow builds them itself)."""

from __future__ import annotations

from html import escape

from canary.models import Link, RemediationStatus


def alert_email(
    status: RemediationStatus, links: list[Link], temporal_url: str
) -> tuple[str, str, str]:
    """Subject, plain text and HTML: what happened, what to do, where to investigate."""
    diagnosis = status.diagnosis
    subject = f"[Canary {status.severity}] {status.headline}"
    summary = diagnosis.summary if diagnosis else ""
    todo = diagnosis.what_to_do if diagnosis else ""
    all_links = [*(diagnosis.investigate if diagnosis else []), *links]
    all_links.append(Link(label="Remediation in Temporal", url=temporal_url))
    text = "\n".join(
        [
            status.headline,
            "",
            "What happened",
            summary,
            "",
            "What to do",
            todo,
            "",
            "Where to investigate",
            *[f"- {link.label}: {link.url}" for link in all_links],
            "",
            f"Buttons and history: {status.workflow_id}",
        ]
    )
    items = "".join(
        f"<li><a href='{escape(link.url, quote=True)}'>{escape(link.label)}</a></li>"
        for link in all_links
    )
    html = (
        "<!doctype html><html><body style='font-family:sans-serif;color:#222'>"
        f"<h2>{escape(status.headline)}</h2>"
        f"<h3>What happened</h3><p>{escape(summary).replace(chr(10), '<br>')}</p>"
        f"<h3>What to do</h3><p>{escape(todo)}</p>"
        f"<h3>Where to investigate</h3><ul>{items}</ul>"
        f"<p style='color:#666'>Severity {escape(status.severity)} · {escape(status.error_type)}"
        f" · {escape(status.workflow_id)}</p></body></html>"
    )
    return subject, text, html
