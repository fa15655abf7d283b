"""Slack text, made safe in one place: escaping, links, mentions and Block Kit's limits.

Everything Canary puts into a Slack message from outside (a customer's name, a case's text, a
detection's message, a fact an SOP template shows, a person's name) goes through
:func:`escape`, so Slack shows it as text and never parses it: ``<!channel>`` does not ping,
``<https://evil.example|Stripe invoice>`` is no link. Canary's own markup (a mention of a user
id it looked up, the ``<!here>`` it chooses, a link it builds with :func:`link`) is added
around the escaped text. ``plain_text`` objects (headers, button labels) are not parsed by
Slack at all, so they take the raw text, only cut to their limit.

The limits are Block Kit's, from Slack's reference (docs.slack.dev, "Block Kit" → blocks,
block elements, composition objects; chat.postMessage for the text): a message's ``text`` has
at most 40,000 characters and a message at most 50 blocks; a section's text at most
3,000 characters, a header's 150; a button's text 75 and its value 2,000; an actions block 25
elements; a context block 10 elements; a select 100 options, an option's text 75 and its value
150; a confirmation dialog's title 100, its text 300, its buttons 30. A longer text is cut with
"…"; the whole text stays on the remediation's timeline.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_MESSAGE_TEXT = 40_000
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT_OBJECT = 3000  # any text object, a context element's too
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_BLOCK_ID = 255
MAX_URL = 3000
ELLIPSIS = "…"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_ENTITY = re.compile("|".join(re.escape(e) for e in _UNESCAPES))
# A Slack user id as Slack issues it (U… or W… for Enterprise Grid), the only thing Canary
# turns into a mention.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
# What may not appear in a link's URL: it would end the ``<url|label>`` markup or hide text.
_URL_FORBIDDEN = re.compile(r"[\s<>|`\x00-\x1f\x7f]")


def escape(text: object) -> str:
    """Any value as Slack mrkdwn that shows exactly that value: ``&``, ``<`` and ``>`` become
    entities, as Slack asks (nothing else is encoded)."""
    return str(text).translate(_ESCAPE_TABLE)


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (what Slack shows for escaped text)."""
    return _ENTITY.sub(lambda m: _UNESCAPES[m.group(0)], text)


def clip(text: str, limit: int) -> str:
    """Raw text (``plain_text``, a value) cut to ``limit`` characters with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def clip_mrkdwn(text: str, limit: int) -> str:
    """mrkdwn cut to ``limit`` characters with "…", never inside an entity (``&am…``) or a
    piece of Canary's markup (``<@U0AL…``), which would show broken."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    cut = re.sub(r"&[a-z]*$", "", cut)
    opened, closed = cut.rfind("<"), cut.rfind(">")
    if opened > closed:
        cut = cut[:opened]
    return cut + ELLIPSIS


def safe_url(url: str) -> bool:
    """Whether ``url`` can be a link's target: http(s) with a host, nothing that could end
    the markup, within Slack's length."""
    if len(url) > MAX_URL or _URL_FORBIDDEN.search(url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def link(url: str, label: str) -> str:
    """``<url|label>`` with the label escaped. A URL that cannot be a safe target is shown
    as text (in code, so Slack does not turn it into a link either)."""
    if safe_url(url):
        return f"<{url.replace('&', '&amp;')}|{escape(label)}>"
    return f"{escape(label)} {code(url)}"


def code(text: str) -> str:
    """Text in a code span: escaped, backticks replaced (one would end the span)."""
    return f"`{escape(text.replace('`', chr(0x2019)))}`" if text else ""


def mention(actor: str, name: str | None = None) -> str:
    """A person in Slack text: a Slack user id as their mention (Slack shows their current
    name); anyone else (a CLI user's name or e-mail) as ``name``, or ``actor``, escaped. Every
    message naming a person goes through here, so no raw ``U0…`` id reaches a reader."""
    return f"<@{actor}>" if _USER_ID.fullmatch(actor) else escape(name or actor)


def is_user_id(value: str | None) -> bool:
    return bool(value) and _USER_ID.fullmatch(str(value)) is not None
