"""The chat page draws code as Slack does: a ```fenced``` block as preformatted text, `inline`
code in a code span, what they hold shown as written, and no backtick left on the page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from slack_sdk import WebClient

from canary.blocks.alert import thread_text
from canary.blocks.report import report_blocks
from canary.models import TimelineEntry
from canary.rules.report import sparkline, text_table
from sandbox import SandboxConfig, SandboxServer
from sandbox.slack.mrkdwn import mrkdwn

TOKEN = "xoxb-chat-code-tests"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


def rendered(sandbox: SandboxServer, channel: str, ts: str) -> str:
    """The HTML of one top-level message (without replies) as the chat page shows it."""
    page = httpx.get(f"{sandbox.url}/", params={"channel": channel, "as": "U0ALICE"})
    assert page.status_code == 200
    start = page.text.index(f'id="m{ts}"')
    return page.text[start : page.text.index("</article>", start)]


def names(user: str) -> str:
    return {"U0ALICE": "Alice Nguyen"}.get(user, user)


def test_a_code_block_is_preformatted_and_shown_as_written() -> None:
    text = (
        "Rates:\n```Period  *Rate*\n------  _----_\n<https://x.example|x>  ~7.9%~```\nafter *bold*"
    )
    out = str(mrkdwn(text, names))
    block = re.search(r'<pre class="code">(.*?)</pre>', out, re.DOTALL)
    assert block is not None, out
    # Inside the block: the lines as written (escaped for HTML), no formatting, no link.
    assert html.unescape(block[1]) == (
        "Period  *Rate*\n------  _----_\n<https://x.example|x>  ~7.9%~"
    )
    assert "<b>" not in block[1] and "<a " not in block[1]
    # The fences' own line breaks make no empty lines around the block; outside, mrkdwn works.
    assert out.startswith('Rates:<pre class="code">') and out.endswith("</pre>after <b>bold</b>")
    assert "`" not in out


def test_inline_code_is_a_code_span_without_formatting() -> None:
    out = str(mrkdwn("`14:05` <@U0ALICE>: retry `in_*1*` _now_ and `<script>`", names))
    assert out == (
        '<code>14:05</code> <span class="mention">@Alice Nguyen</span>: retry '
        "<code>in_*1*</code> <i>now</i> and <code>&lt;script&gt;</code>"
    )


def test_unclosed_backticks_stay_text() -> None:
    assert str(mrkdwn("it`s fine", names)) == "it`s fine"
    assert str(mrkdwn("an unclosed ``` fence\nstays", names)) == "an unclosed ``` fence<br>stays"


def test_canary_report_and_thread_render_without_stray_backticks(sandbox: SandboxServer) -> None:
    slack = WebClient(token=TOKEN, base_url=f"{sandbox.url}/api/")
    table = text_table([["Period", "Rate"], ["2026-12-03", "2.4%"], ["2026-12-04", "7.9%"]])
    blocks = report_blocks(
        {
            "kpi_title": "Payment failure rate",
            "value_display": "7.9%",
            "period": "2026-12-04",
            "direction": "above",
            "threshold_display": "5.0%",
            "sparkline": sparkline([2.4, 2.4, 7.9]),
            "table_text": table,
        },
        "Payment failure rate above threshold: 7.9%",
    )
    report = slack.chat_postMessage(channel="#gtm-alerts", text="KPI report", blocks=blocks)
    entry = TimelineEntry(
        at=datetime(2026, 12, 4, 14, 5, tzinfo=UTC),
        kind="human_action",
        actor="U0ALICE",
        text="Retry payment pressed",
    )
    line = slack.chat_postMessage(channel="#gtm-alerts", text=thread_text([entry]))

    shown = rendered(sandbox, "gtm-alerts", report["ts"])
    assert "`" not in shown
    assert f'<pre class="code">{html.escape(table)}</pre>' in shown
    assert f"<code>{sparkline([2.4, 2.4, 7.9])}</code>" in shown
    shown_line = rendered(sandbox, "gtm-alerts", line["ts"])
    assert "`" not in shown_line and "<code>14:05</code>" in shown_line


def test_escaped_markup_is_text_as_in_slack() -> None:
    """Only real ``<`` and ``>`` make a mention or a link: entities show as the characters."""
    out = str(
        mrkdwn("&lt;!channel&gt; &lt;@U0ALICE&gt; &lt;https://e.example|x&gt; <!here>", names)
    )
    assert out == (
        "&lt;!channel&gt; &lt;@U0ALICE&gt; &lt;https://e.example|x&gt; "
        '<span class="mention">@here</span>'
    )
    assert str(mrkdwn("*<@U0ALICE>* a &amp; b", names)) == (
        '<b><span class="mention">@Alice Nguyen</span></b> a &amp; b'
    )
