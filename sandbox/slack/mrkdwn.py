"""Slack's mrkdwn and Block Kit as HTML, for the sandbox's chat page."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

_LINK = re.compile(r"&lt;(?P<target>[^|&]+?)(?:\|(?P<label>.+?))?&gt;")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)(.+?)(?<!\s)~(?![\w~])")
#: Code as Slack draws it: a fenced block (```…```, across lines) or inline `code` (one line).
#: What they hold is shown as written, without formatting, links or emoji.
_VERBATIM = re.compile(r"```(?P<block>.+?)```|`(?P<inline>[^`\n]+)`", re.DOTALL)
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
#: The shortcodes Canary's messages use, drawn as Slack draws them.
EMOJI = {
    "bell": "🔔", "chart_with_downwards_trend": "📉", "chart_with_upwards_trend": "📈",
    "clipboard": "📋", "fire": "🔥", "large_blue_circle": "🔵", "large_yellow_circle": "🟡",
    "large_green_circle": "🟢", "red_circle": "🔴", "link": "🔗", "mag": "🔍",
    "no_entry_sign": "🚫", "raising_hand": "🙋", "repeat": "🔁", "rotating_light": "🚨",
    "warning": "⚠️", "white_check_mark": "✅", "wrench": "🔧", "x": "❌", "zzz": "💤",
    "email": "📧", "memo": "📝", "calendar": "📅", "tada": "🎉", "bar_chart": "📊",
    "angry": "😠", "wave": "👋", "hourglass_flowing_sand": "⏳", "credit_card": "💳",
    "busts_in_silhouette": "👥", "arrow_up": "⬆️", "arrow_down": "⬇️", "eyes": "👀",
}  # fmt: skip


def mrkdwn(text: str, user_name: Callable[[str], str]) -> Markup:
    """Render Slack mrkdwn: links ``<url|label>``, mentions ``<@U…>``, ``<#C…>``, *bold*,
    _italic_, ~strike~, `code`, ```code blocks```, line breaks. Input is escaped first: nothing
    in a message can inject markup into the page."""
    # Slack messages arrive with &, < and > escaped as entities; undo that before escaping once.
    raw = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    out: list[str] = []
    position = 0
    for match in _VERBATIM.finditer(raw):
        before = raw[position : match.start()]
        if match["block"] is not None:
            # A block stands on its own lines: the line breaks around its fences are its own.
            before = before.removesuffix("\n")
            body = match["block"].removeprefix("\n").removesuffix("\n")
            code = f'<pre class="code">{html.escape(body, quote=True)}</pre>'
        else:
            code = f"<code>{html.escape(match['inline'], quote=True)}</code>"
        out += [_formatted(before, user_name), code]
        position = match.end()
        if match["block"] is not None and raw.startswith("\n", position):
            position += 1
    out.append(_formatted(raw[position:], user_name))
    return Markup("".join(out))


def _formatted(raw: str, user_name: Callable[[str], str]) -> str:
    """Text outside code: escaped, then links, mentions, emphasis, emoji and line breaks."""
    escaped = html.escape(raw, quote=True)

    def link(match: re.Match[str]) -> str:
        target, label = match["target"], match["label"]
        if target.startswith("@"):
            return f'<span class="mention">@{html.escape(user_name(target[1:]))}</span>'
        if target.startswith("#"):
            name = (label or target[1:]).lstrip("#")
            return f'<span class="mention">#{name}</span>'
        if target.startswith("!"):
            return f'<span class="mention">@{label or target[1:]}</span>'
        if target.startswith(("http://", "https://", "mailto:")):
            return f'<a href="{target}" target="_blank" rel="noopener">{label or target}</a>'
        return match.group(0)

    out = _LINK.sub(link, escaped)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    out = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return out.replace("\n", "<br>")


def text_of(obj: dict[str, Any] | None, user_name: Callable[[str], str]) -> Markup:
    if not obj:
        return Markup("")
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), user_name)
    return Markup(html.escape(str(obj.get("text", ""))))
