"""The ``report.send`` step: a KPI report (table and chart) to the KPI's audience, in Slack
and by e-mail, so a metric_threshold remediation sends its report as an ordinary,
idempotent SOP step."""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ApplicationError

from activities.services import Services
from activities.slack import post_once, retried
from canary.adapters import PermanentError, TransientError
from canary.adapters.email_adapter import message_id
from canary.blocks import report_blocks
from canary.models import StepInput, StepOutput
from canary.rules.report import html_report, series_points
from canary.settings import MissingSettingError


class ReportSender:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def send(self, request: StepInput) -> StepOutput:
        facts = request.facts
        title = str(facts.get("kpi_title") or facts.get("kpi") or "KPI")
        headline = (
            f":bar_chart: {title} {facts.get('direction', 'crossed')} threshold: "
            f"{facts.get('value_display')}"
        )
        channel = facts.get("audience_channel")
        emails = [str(e) for e in facts.get("audience_emails") or []]
        if not channel and not emails:
            return StepOutput(ok=False, text="This KPI names no audience to send the report to.")
        sent: list[str] = []
        notes: list[str] = []
        if channel:
            await post_once(
                self.services.slack,
                str(channel),
                f"{title}: {facts.get('value_display')} ({facts.get('direction')} "
                f"{facts.get('threshold_display')})",
                report_blocks(facts, headline),
                f"{request.attempt_key}/report",
                look=retried(),
            )
            sent.append(str(channel))
        if emails:
            try:
                adapter = self.services.email
            except MissingSettingError as exc:
                notes.append(f"e-mail not sent: {exc}")
            else:
                intro = (
                    f"{title} was {facts.get('value_display')} on {facts.get('period')}, "
                    f"{facts.get('direction')} the threshold of {facts.get('threshold_display')}."
                )
                html = html_report(
                    f"{title} report",
                    intro,
                    series_points(facts.get("series")),
                    str(facts.get("value_format") or "number"),
                    threshold=float(facts["threshold"])
                    if facts.get("threshold") is not None
                    else None,
                    value_label=title,
                )
                text = f"{intro}\n\n{facts.get('table_text', '')}\n"
                try:
                    accepted = await asyncio.to_thread(
                        adapter.send,
                        emails,
                        f"[Canary report] {title}: {facts.get('value_display')}",
                        text,
                        html,
                        message_id(f"{request.attempt_key}/report-email"),
                    )
                except PermanentError as exc:
                    notes.append(f"e-mail refused: {exc.detail}")
                    accepted = []
                except TransientError as exc:
                    # Retried by the step's policy; the Slack post above will not repeat (it
                    # is found by its metadata key on the next attempt).
                    raise ApplicationError(str(exc), type="smtp.transient") from exc
                sent += accepted
        if not sent:
            return StepOutput(ok=False, text="The report reached nobody. " + "; ".join(notes))
        text = f"Report sent to {', '.join(sent)}."
        if notes:
            text += " " + "; ".join(notes)
        return StepOutput(ok=True, resolved=True, text=text, facts={"report_sent_to": sent})
