"""The ``report.send`` SOP step: a KPI report (table and chart) to the KPI's audience.

Mixed into the remediation activities (their ``run_step`` dispatches here), so a
metric_threshold remediation sends its report as an ordinary, idempotent SOP step.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from canary.adapters import PermanentError, TransientError
from canary.adapters.email_adapter import EmailAdapter, message_id
from canary.models import StepInput, StepOutput
from canary.rules.report import html_report, series_points
from canary.settings import MissingSettingError, Settings

if TYPE_CHECKING:
    from canary.adapters import SlackAdapter


def report_blocks(facts: dict[str, Any], headline: str) -> list[dict[str, Any]]:
    table = str(facts.get("table_text") or "")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{facts.get('kpi_title')} was *{facts.get('value_display')}* on "
                f"{facts.get('period')}, {facts.get('direction')} the threshold of "
                f"{facts.get('threshold_display')}.\nTrend: `{facts.get('sparkline', '')}`",
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{table[:2800]}```"}},
    ]


class ReportSteps:
    """Needs ``self.settings``, ``self.slack`` and ``self.run`` (thread + error mapping);
    builds the e-mail adapter from settings."""

    settings: Settings

    if TYPE_CHECKING:

        @property
        def slack(self) -> SlackAdapter: ...

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @cached_property
    def email(self) -> EmailAdapter:
        return EmailAdapter.from_settings(self.settings)

    async def send_report(self, request: StepInput) -> StepOutput:
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
            key = f"{request.attempt_key}/report"
            existing = None
            if activity.in_activity() and activity.info().attempt > 1:
                existing = await self.run(self.slack.find_by_metadata, str(channel), key)
            if existing is None:
                await self.run(
                    self.slack.post,
                    str(channel),
                    f"{title}: {facts.get('value_display')} ({facts.get('direction')} "
                    f"{facts.get('threshold_display')})",
                    report_blocks(facts, headline),
                    None,
                    key,
                )
            sent.append(str(channel))
        if emails:
            try:
                adapter = self.email
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
