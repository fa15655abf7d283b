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
_CODE = re.compile(r"`([^`]+)`")
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
}


def mrkdwn(text: str, user_name: Callable[[str], str]) -> Markup:
    """Render Slack mrkdwn: links ``<url|label>``, mentions ``<@U…>``, ``<#C…>``, *bold*,
    _italic_, ~strike~, `code`, line breaks. Input is escaped first: nothing in a message can
    inject markup into the page."""
    # Slack messages arrive with &, < and > escaped as entities; undo that before escaping once.
    raw = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
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
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    out = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return Markup(out.replace("\n", "<br>"))


def text_of(obj: dict[str, Any] | None, user_name: Callable[[str], str]) -> Markup:
    if not obj:
        return Markup("")
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), user_name)
    return Markup(html.escape(str(obj.get("text", ""))))
