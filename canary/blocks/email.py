"""E-mail versions of a remediation's alert (pure, so the workflow builds them itself)."""

from __future__ import annotations

from html import escape

from canary.blocks.mrkdwn import safe_url
from canary.models import Link, RemediationStatus


def _item(link: Link) -> str:
    """A link as an HTML list item: an anchor only for an http(s) URL (never ``javascript:``
    or ``data:``), the label and URL escaped for HTML."""
    if safe_url(link.url):
        return f"<li><a href='{escape(link.url, quote=True)}'>{escape(link.label)}</a></li>"
    return f"<li>{escape(link.label)}: {escape(link.url)}</li>"


def alert_email(
    status: RemediationStatus, links: list[Link], temporal_url: str
) -> tuple[str, str, str]:
    """Subject, plain text and HTML: what happened, what to do, where to investigate. The
    texts are raw (an e-mail has no Slack markup); the HTML escapes every value for HTML."""
    diagnosis = status.diagnosis
    # One line: a line break in a headline would end the Subject header.
    subject = " ".join(f"[Canary {status.severity}] {status.headline}".split())
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
    items = "".join(_item(link) for link in all_links)
    html = (
        "<!doctype html><html><body style='font-family:sans-serif;color:#222'>"
        f"<h2>{escape(status.headline)}</h2>"
        f"<h3>What happened</h3><p>{escape(summary).replace(chr(10), '<br>')}</p>"
        f"<h3>What to do</h3><p>{escape(todo).replace(chr(10), '<br>')}</p>"
        f"<h3>Where to investigate</h3><ul>{items}</ul>"
        f"<p style='color:#666'>Severity {escape(status.severity)} · {escape(status.error_type)}"
        f" · {escape(status.workflow_id)}</p></body></html>"
    )
    return subject, text, html
