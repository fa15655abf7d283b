"""Issue 14, finding 3: values from customers and tools reach Slack as text, never as markup.

Each attack puts Slack control sequences where a hostile report, customer or tool can put
them: a detection's message, its source's name, the account's and the customer's names, the
facts an SOP template shows, a report's links, a CLI user's name. Every message
``canary.blocks`` builds (alert, thread, escalation, digest, report, e-mail) is checked on the
blocks it returns: Slack would parse no markup but Canary's own (the mentions of ids it looked
up, the ``<!here>`` it chooses, links on configured bases), and the text still says what the
attacker wrote (escaped, not dropped). Once, end to end, on what the sandbox's Slack recorded.
Huge values keep every message within Block Kit's limits. Hypothesis checks the escaping and
template substitution for any text.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from canary.blocks import (
    alert_email,
    build_blocks,
    digest_blocks,
    digest_text,
    escalation_blocks,
    fallback_text,
    owner_mention,
    report_blocks,
    thread_blocks,
    thread_text,
)
from canary.blocks.mrkdwn import clip_mrkdwn, escape, unescape
from canary.catalog import load_catalog
from canary.catalog.diagnosis import diagnose, plan, render
from canary.models import (
    Detection,
    Link,
    RemediationState,
    RemediationStatus,
    ResolveOwnerOutput,
    TimelineEntry,
)
from canary.models.detectors import DigestInput, DigestItem
from sandbox.slack.blockkit import message_block_errors
from tests.helpers import eventually
from tests.stack import API_TOKEN, LiveStack, live_stack

CATALOG = load_catalog()
STRIPE = "https://dashboard.stripe.com/test"
SALESFORCE = "https://acme.my.salesforce.com"
TEMPORAL = "http://localhost:8233"
ENV = {"stripe_dashboard": STRIPE, "salesforce_url": SALESFORCE, "temporal_ui": TEMPORAL}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNER = "U0ALICE"

#: What an attacker writes, and what Slack must show instead (the same text, escaped).
ATTACKS = {
    "ping the channel": "<!channel>",
    "ping everyone here": "<!here>",
    "ping an admin": "<@U0ADMIN>",
    "disguised link": "<https://evil.example|Stripe invoice>",
    "pre-escaped ping": "&lt;!channel&gt;",
}
ATTACK_IDS = list(ATTACKS)
# Markup Slack parses: <…> (links, mentions, special commands).
MARKUP = re.compile(r"<([^<>]*)>")


# -- what a message may contain --------------------------------------------------------------


def texts(blocks: Any) -> Iterator[tuple[str, str]]:
    """Every text object in blocks: (type, text)."""
    if isinstance(blocks, dict):
        if blocks.get("type") in ("mrkdwn", "plain_text") and isinstance(blocks.get("text"), str):
            yield blocks["type"], blocks["text"]
        for value in blocks.values():
            yield from texts(value)
    elif isinstance(blocks, list):
        for value in blocks:
            yield from texts(value)


def canary_markup(token: str) -> bool:
    """Markup Canary itself writes: the owner's mention, the <!here> it chooses when the owner
    is not on Slack, links on the configured bases."""
    if token in (f"@{OWNER}", "!here"):
        return True
    url = token.split("|", 1)[0]
    return url.startswith((STRIPE, SALESFORCE, TEMPORAL))


def assert_only_canary_markup(mrkdwn: str, payload: str) -> None:
    for token in MARKUP.findall(mrkdwn):
        assert canary_markup(token), f"Slack would parse <{token}> in {mrkdwn!r}"
        # A payload may be a percent-encoded piece of a path; never the target's host.
        assert urlsplit(token.split("|", 1)[0]).hostname != "evil.example"


def assert_safe(blocks: list[dict[str, Any]], payload: str, *, shown: bool = True) -> None:
    """No markup but Canary's in any mrkdwn text; the payload is shown as the text it is."""
    found = False
    for kind, text in texts(blocks):
        if kind == "mrkdwn":
            assert_only_canary_markup(text, payload)
            found = found or escape(payload) in text
        else:
            found = found or payload in text
    if shown:
        assert found, f"{payload!r} is not shown anywhere (escaped, it should still be seen)"


def diagnosed_status(
    detection: Detection,
    *,
    env: dict[str, Any] | None = None,
    owner: ResolveOwnerOutput | None = None,
    looked_up: dict[str, Any] | None = None,
) -> RemediationStatus:
    state = RemediationState.begin(detection, T0)
    facts = {**detection.facts, **(looked_up or {})}
    state.diagnosis = diagnose(detection, plan(detection, CATALOG), CATALOG, facts, env or ENV)
    state.diagnosed_at = T0
    state.state = "awaiting_human"
    if owner:
        state.owner = owner
    return state.status("canary-test", detection)


def unknown_error(message: str = "boom", source: str = "zapier", **extra: Any) -> Detection:
    return Detection(
        source=source,
        subject={"kind": "account", "id": "001000000000001AAA"},
        account={"name": "Globex"},
        message=message,
        **extra,
    )


def payment(account_name: str = "Globex", **facts: Any) -> Detection:
    return Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": "in_1Injection"},
        account={"name": account_name, "stripe_customer_id": "cus_Injection"},
        facts={
            "event_type": "invoice.payment_failed",
            "decline_code": "insufficient_funds",
            "amount_display": "$4,800.00",
            **facts,
        },
    )


def alert(
    status: RemediationStatus,
    mention: str | None = None,
    links: list[Link] | None = None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    blocks = build_blocks(status, links or [], mention, f"{TEMPORAL}/x", notes)
    # The notification text is parsed for mentions too.
    return [*blocks, {"type": "mrkdwn", "text": fallback_text(status)}]


# -- every substituted field -------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_a_detections_message_is_text(attack: str) -> None:
    payload = ATTACKS[attack]
    status = diagnosed_status(unknown_error(message=f"Sync failed {payload}"))
    assert_safe(alert(status), payload)


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_the_sources_name_is_text(attack: str) -> None:
    payload = ATTACKS[attack]
    status = diagnosed_status(
        unknown_error(source=f"tool {payload}", facts={"source_url": f"{STRIPE}/x"})
    )
    blocks = alert(status)
    assert_safe(blocks, payload)
    # The source's name (its first letter raised) labels the SOP's "Source" link, escaped.
    assert any(f"|Source: Tool {escape(payload)}>" in text for _, text in texts(blocks))


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_the_account_and_customer_names_are_text(attack: str) -> None:
    payload = ATTACKS[attack]
    status = diagnosed_status(payment(account_name=f"Globex {payload}"))
    assert_safe(alert(status, owner_mention(ResolveOwnerOutput(), None)), payload)
    # An owner who is not on Slack is named in the channel: the <!here> is Canary's, the
    # name (from the CRM or Stripe's customer) is text.
    named = owner_mention(ResolveOwnerOutput(), f"Dana {payload}")
    assert named is not None and named.startswith("<!here> ")
    assert_safe(alert(status, named), payload)


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_facts_a_template_shows_are_text(attack: str) -> None:
    payload = ATTACKS[attack]
    status = diagnosed_status(
        payment(decline_message=f"Declined {payload}", invoice_number=payload)
    )
    assert_safe(alert(status), payload)
    case = Detection(
        source="salesforce",
        type="irate_customer",
        subject={"kind": "case", "id": "500000000000001AAA"},
        account={"name": "Initech"},
        facts={
            "quote": f"Fix it now {payload}",
            "case_subject": payload,
            "case_number": "42",
            "score": -0.9,
            "threshold": -0.5,
            "quote_from": "customer",
        },
    )
    assert_safe(alert(diagnosed_status(case)), payload)


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_a_confirmation_dialog_shows_facts_as_text(attack: str) -> None:
    payload = ATTACKS[attack]
    mismatch = Detection(
        source="stripe",
        type="stage_mismatch",
        subject={"kind": "opportunity", "id": "006000000000001AAA"},
        account={"name": "Globex"},
        facts={"opportunity_name": payload, "amounts_differ": True},
    )
    status = diagnosed_status(mismatch)
    confirms = [
        a.confirm for a in (status.diagnosis.actions if status.diagnosis else []) if a.confirm
    ]
    assert_safe(
        alert(status), payload, shown=bool(confirms and any(payload in c for c in confirms))
    )


def test_a_reports_links_are_links_only_on_configured_hosts() -> None:
    detection = unknown_error(
        links=[
            Link(label="Stripe invoice", url="https://evil.example/pay"),
            Link(
                label="Invoice", url="http://dashboard.stripe.com/test/invoices/in_1"
            ),  # not https
            Link(label="<!channel> invoice", url=f"{STRIPE}/invoices/in_1"),
            Link(label="Run", url="javascript:alert(1)"),
        ]
    )
    status = diagnosed_status(detection)
    blocks = alert(status)
    assert_safe(blocks, "<!channel> invoice")
    shown = "\n".join(text for kind, text in texts(blocks) if kind == "mrkdwn")
    links = MARKUP.findall(shown)
    # The one on the configured Stripe dashboard is a link, with its label escaped …
    assert f"{STRIPE}/invoices/in_1|&lt;!channel&gt; invoice" in links
    # … the others are shown as text, where they really point, never as a link.
    assert not any(
        "evil.example" in t or "javascript" in t or t.startswith("http://dash") for t in links
    )
    assert "`https://evil.example/pay`" in shown and "Stripe invoice" in shown
    # The e-mail twin makes no anchor of them either.
    _, _, html = alert_email(status, [], f"{TEMPORAL}/x")
    assert "href='https://evil.example" not in html and "href='javascript" not in html


def test_a_link_host_listed_in_the_settings_is_a_link() -> None:
    detection = unknown_error(
        links=[Link(label="Product admin", url="https://app.acme.example/admin/1")],
        facts={"source_url": "https://tools.acme.example/runs/7"},
    )
    env = {**ENV, "link_hosts": ["app.acme.example"]}
    status = diagnosed_status(detection, env=env)
    investigate = {link.url for link in status.diagnosis.investigate} if status.diagnosis else set()
    assert "https://app.acme.example/admin/1" in investigate
    assert "https://tools.acme.example/runs/7" not in investigate  # its host is not listed


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_a_fact_in_a_links_path_cannot_leave_it(attack: str) -> None:
    payload = ATTACKS[attack]
    missing = Detection(
        source="stripe",
        type="payment_missing",
        subject={"kind": "opportunity", "id": "006000000000001AAA"},
        account={"name": "Globex"},
    )
    # The ids the edge validates (a report's) arrive here from a lookup too, which the edge
    # does not see: the link must hold on its own.
    status = diagnosed_status(
        missing,
        looked_up={
            "stripe_customer": f"cus_1{payload}",
            "invoice_id": f"in_1/../../x?{payload}",
        },
    )
    assert status.diagnosis is not None
    for link in status.diagnosis.investigate:
        if link.url.startswith(STRIPE):
            path = link.url[len(STRIPE) :]
            assert not set(path) & set("<>|?#") and "/../" not in path, link.url
    assert_safe(alert(status), payload, shown=False)


@pytest.mark.parametrize("attack", ATTACK_IDS)
def test_thread_lines_escalations_digests_and_reports_show_text(attack: str) -> None:
    payload = ATTACKS[attack]
    status = diagnosed_status(payment(account_name=payload))
    # A timeline line whose text came from a tool's error, by a CLI user named like a ping.
    lines = thread_text(
        [
            TimelineEntry(at=T0, kind="step_failed", text=f"Stripe said {payload}", actor=OWNER),
            TimelineEntry(at=T0, kind="human_action", text="Snoozed", actor=payload),
        ]
    )
    assert_safe(thread_blocks(lines) + [{"type": "mrkdwn", "text": lines}], payload)
    assert_safe(
        escalation_blocks(status, ":bell: waited 4 hours", None, [], None, f"{TEMPORAL}/x"), payload
    )
    digest = DigestInput(owner=f"dana{payload}@x.example", channel="#gtm-alerts")
    item = DigestItem(
        workflow_id="canary-test",
        headline=f"Low adoption {payload}",
        severity="low",
        error_type="low_adoption",
        summary=payload,
        actions=[{"id": "dismiss", "label": payload}],
    )
    assert_safe(digest_blocks(digest, [item], "2026-12-01"), payload)
    assert_only_canary_markup(digest_text(digest, [item]), payload)
    report = report_blocks(
        {
            "kpi_title": payload,
            "value_display": payload,
            "period": "Nov",
            "direction": "below",
            "threshold_display": "1",
            "sparkline": payload,
            "table_text": f"| {payload} |",
        },
        f"KPI {payload}",
    )
    assert_safe(report, payload)


def test_the_email_escapes_for_html() -> None:
    status = diagnosed_status(payment(account_name="<script>alert(1)</script> & Co"))
    subject, text, html = alert_email(status, [], f"{TEMPORAL}/x")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" in text  # the plain-text part shows the name as it is
    assert "\n" not in subject


def test_text_already_escaped_is_escaped_again() -> None:
    # Whoever wrote "&lt;" meant those four characters: Slack must show them, not "<".
    status = diagnosed_status(unknown_error(message="a &lt;b&gt; &amp; c"))
    summary = next(t for _, t in texts(alert(status)) if t.startswith("*What happened*"))
    assert "a &amp;lt;b&amp;gt; &amp;amp; c" in summary
    assert "a &lt;b&gt; &amp; c" in unescape(summary)


# -- Block Kit's limits ------------------------------------------------------------------------


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    """Slack would take the blocks: the sandbox checks them as Slack does."""
    assert message_block_errors(blocks) == []


def test_huge_values_stay_within_block_kit_limits() -> None:
    huge = "<!channel> " * 20_000
    detection = payment(account_name=huge, decline_message=huge, invoice_number=huge)
    status = diagnosed_status(detection)
    blocks = build_blocks(
        status,
        [Link(label=huge, url=f"{STRIPE}/x")] * 40,
        owner_mention(ResolveOwnerOutput(), huge),
        f"{TEMPORAL}/x",
        [huge] * 80,
    )
    assert_within_limits(blocks)
    assert_safe(blocks, "<!channel>")
    assert any(t.endswith("…") for _, t in texts(blocks))
    assert len(fallback_text(status)) <= 3000
    assert_within_limits(escalation_blocks(status, "x", None, [], None, f"{TEMPORAL}/x"))

    # The thread: each line cut, the batch split over sections; the timeline keeps it all.
    entries = [TimelineEntry(at=T0, kind="step_failed", text=huge) for _ in range(80)]
    assert_within_limits(thread_blocks(thread_text(entries)))
    assert all(e.text == huge for e in entries)

    items = [
        DigestItem(
            workflow_id=f"w{n}",
            headline=huge,
            severity="low",
            error_type="low_adoption",
            summary=huge,
            actions=[{"id": f"a{k}", "label": huge} for k in range(30)],
        )
        for n in range(40)
    ]
    assert_within_limits(digest_blocks(DigestInput(owner=huge, channel="#c"), items, "day"))
    assert_within_limits(report_blocks({"table_text": huge, "kpi_title": huge}, huge))


def test_a_long_choice_list_stays_within_a_selects_limits() -> None:
    options = [
        {"label": f"<!channel> Account {n} " * 10, "value": f"001{n:015d}"} for n in range(150)
    ]
    # First, so a cut to the first 100 options does not hide it: Slack refuses a value over
    # 150 characters, and cut it would choose something else.
    options.insert(0, {"label": "too long a value", "value": "x" * 151})
    unlinked = Detection(
        source="product",
        type="account_unlinked",
        subject={"kind": "app_account", "id": "app_hooli"},
        account={"name": "Hooli"},
        facts={"candidates": options, "candidate_count": len(options)},
    )
    status = diagnosed_status(unlinked)
    blocks = build_blocks(status, [], None, f"{TEMPORAL}/x")
    assert_within_limits(blocks)
    values = [o["value"] for b in blocks for o in (b.get("accessory") or {}).get("options", [])]
    assert len(values) == 100
    assert "x" * 151 not in values and not any(v.startswith("x" * 150) for v in values)


# -- properties of the escaping and the substitution ------------------------------------------


@given(st.text())
def test_an_escaped_value_has_no_markup_and_unescapes_to_itself(value: str) -> None:
    escaped = escape(value)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == value


@given(st.text(), st.integers(min_value=2, max_value=400))
def test_cutting_escaped_text_never_breaks_an_entity(value: str, limit: int) -> None:
    cut = clip_mrkdwn(escape(value), limit)
    assert len(cut) <= limit
    assert "<" not in cut and ">" not in cut
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*…?", cut, flags=re.S)


TEMPLATE_TEXT = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40)


@given(st.lists(st.tuples(TEMPLATE_TEXT, st.text()), max_size=5), TEMPLATE_TEXT)
def test_rendering_never_lets_a_facts_markup_through(
    parts: list[tuple[str, str]], tail: str
) -> None:
    template = "".join(f"{text}{{facts.f{n}}}" for n, (text, _) in enumerate(parts)) + tail
    context = {"facts": {f"f{n}": value for n, (_, value) in enumerate(parts)}}
    rendered = render(template, context, missing="", escape=escape)
    # Every < and > in the result is the template's own; the facts are there, escaped.
    own = "".join(text for text, _ in parts) + tail
    assert rendered.count("<") == own.count("<") and rendered.count(">") == own.count(">")
    expected = "".join(f"{text}{escape(value)}" for text, value in parts) + tail
    assert rendered == expected.strip()


@given(st.text(min_size=1, max_size=300), st.text(max_size=300), st.text(max_size=100))
def test_any_headline_summary_or_owner_name_is_text_in_the_alert(
    headline: str, message: str, name: str
) -> None:
    detection = unknown_error(message=message or "x", source=headline.strip() or "s")
    status = diagnosed_status(detection)
    mention = owner_mention(ResolveOwnerOutput(), name or None)
    for kind, text in texts(alert(status, mention)):
        if kind == "mrkdwn":
            for token in MARKUP.findall(text):
                assert canary_markup(token), token


# -- end to end: what the sandbox's Slack recorded ---------------------------------------------


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as live:
        yield live


async def test_a_hostile_report_reaches_slack_as_text(stack: LiveStack) -> None:
    payloads = " ".join(ATTACKS.values())
    response = await stack.http.post(
        f"{stack.gateway_url}/api/detections",
        json={
            "source": f"tool {ATTACKS['ping the channel']}",
            "subject": {"kind": "account", "id": "001000000000009AAA"},
            "account": {"name": f"Globex {ATTACKS['ping an admin']}"},
            "message": f"Sync failed: {payloads}",
            "links": [{"label": "Stripe invoice", "url": "https://evil.example/pay"}],
        },
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 202, response.text
    workflow_id = response.json()["workflow_id"]
    messages = await eventually(
        lambda: stack.messages("#gtm-alerts"),
        lambda ms: any(workflow_id in str(m.get("blocks")) for m in ms),
        timeout=30,
    )
    recorded = next(m for m in messages if workflow_id in str(m.get("blocks")))
    everything = [*recorded["blocks"], {"type": "mrkdwn", "text": recorded.get("text") or ""}]
    stack_bases = (stack.settings.stripe_dashboard_url, stack.settings.temporal_ui_url)
    for kind, text in texts(everything):
        if kind != "mrkdwn":
            continue
        for token in MARKUP.findall(text):
            url = token.split("|", 1)[0]
            assert url.startswith(stack_bases) or token == "!here", f"Slack would parse <{token}>"
    shown = str(recorded["blocks"])
    assert escape(ATTACKS["disguised link"]) in shown and "&lt;!channel&gt;" in shown
    assert "`https://evil.example/pay`" in shown
