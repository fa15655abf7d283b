"""Who opened a quiet window, as each reader sees it: Slack text (the Home tab) names them by
their mention, the timeline, ``canary windows list`` and the report by the name Slack gave;
a reason or a name crafted to ping the channel or fake formatting stays text."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from canary.blocks.home import Person, home_view
from canary.models import AccountRef, QuietWindow
from canary.reports import ReportRequest, compute_report, render_html, render_text
from sandbox.slack.mrkdwn import mrkdwn
from starter.windows import windows_table
from tests.unit.test_state import T0, open_state

NOW = T0 + timedelta(hours=1)
CRAFTED = "<!channel> *bold* <https://evil.example|Stripe>"


def from_slack(reason: str = "Hooli billing migration", name: str = "Erin Walsh") -> QuietWindow:
    return QuietWindow(
        id="hooli-migration",
        account="Hooli",
        starts_at=T0,
        ends_at=T0 + timedelta(days=2),
        reason=reason,
        opened_by="U0ERIN",
        opened_by_name=name,
    )


def home_windows_text(window: QuietWindow) -> str:
    view = home_view(Person("U0ALICE"), [], [window], NOW)
    return str(view["blocks"][-1]["text"]["text"])


def test_the_home_tab_names_the_opener_by_their_mention() -> None:
    text = home_windows_text(from_slack())
    assert "opened by <@U0ERIN>" in text
    assert "Erin Walsh" not in text, "Slack shows the person's current name for the mention"
    # Rendered as Slack renders it: the person's name, no raw id.
    shown = mrkdwn(text, lambda user: {"U0ERIN": "Erin Walsh"}.get(user, user))
    assert "@Erin Walsh" in shown and "U0ERIN" not in shown


def test_an_opener_who_is_not_on_slack_is_named_as_given_escaped() -> None:
    window = from_slack().model_copy(
        update={"opened_by": "dana@acme-gtm.example", "opened_by_name": None}
    )
    assert "opened by dana@acme-gtm.example" in home_windows_text(window)
    crafted = from_slack().model_copy(update={"opened_by": CRAFTED, "opened_by_name": None})
    text = home_windows_text(crafted)
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; *bold* &lt;https://evil.example|Stripe&gt;" in text


def test_a_crafted_reason_stays_text_on_the_home_tab() -> None:
    text = home_windows_text(from_slack(reason=CRAFTED))
    assert "<!channel>" not in text and "<https://" not in text
    # The reason stands in quotes, apart from Canary's own emphasis, as written.
    assert "“&lt;!channel&gt; *bold* &lt;https://evil.example|Stripe&gt;”" in text
    shown = mrkdwn(text, lambda user: user)
    assert 'class="mention"' in shown and "@channel" not in shown and "<a " not in shown


def test_the_timeline_the_cli_and_the_report_show_the_openers_name() -> None:
    window = from_slack()
    state = open_state()
    state.mute_for(NOW, [window], AccountRef(name="Hooli"))
    [muted] = [e for e in state.timeline if e.kind == "muted"]
    assert "opened by Erin Walsh)" in muted.text and "U0ERIN" not in muted.text

    assert "(by Erin Walsh)" in windows_table([window], NOW)
    report = compute_report(
        ReportRequest(since=T0 - timedelta(days=1), until=NOW),
        [],
        namespace="default",
        temporal_ui_url="http://localhost:8233",
        generated_at=NOW,
    )
    report.windows = [window]
    assert "“Hooli billing migration” (by Erin Walsh)" in render_text(report)
    html = render_html(report)
    assert "<td>Erin Walsh</td>" in html and "U0ERIN" not in html


def test_a_crafted_name_stays_text_in_the_report() -> None:
    window = from_slack(reason="*bold* migration", name=CRAFTED)
    report = compute_report(
        ReportRequest(since=T0 - timedelta(days=1), until=NOW),
        [],
        namespace="default",
        temporal_ui_url="http://localhost:8233",
        generated_at=NOW,
    )
    report.windows = [window]
    html = render_html(report)
    assert "<!channel>" not in html and '<a href="https://evil' not in html
    assert "&lt;!channel&gt; *bold* &lt;https://evil.example|Stripe&gt;" in html
    assert "<td>*bold* migration</td>" in html


def test_a_name_is_one_line_within_its_length() -> None:
    window = from_slack(name="Erin\n\tWalsh\u2028<!here>")
    assert window.opened_by_name == "Erin Walsh <!here>"
    assert from_slack(name="  \n ").opened_by_name is None
    with pytest.raises(ValidationError):
        from_slack(name="x" * 121)
    dumped = json.loads(from_slack().model_dump_json())
    assert QuietWindow.model_validate(dumped) == from_slack()
    # A window recorded before names were kept still reads, and shows its opener as given.
    del dumped["opened_by_name"]
    assert QuietWindow.model_validate(dumped).opener == "U0ERIN"
