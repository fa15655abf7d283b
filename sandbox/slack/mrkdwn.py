"""Slack's mrkdwn and Block Kit as HTML, for the sandbox's chat page."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

#: Slack's control sequences: ``<@U…>``, ``<#C…|name>``, ``<!here>``, ``<https://…|label>``.
#: Only real ``<`` and ``>`` make one: ``&lt;!channel&gt;`` is text that shows as "<!channel>".
_MARKUP = re.compile(r"<(?P<target>[^<>|\s][^<>|]*?)(?:\|(?P<label>[^<>]*?))?>")
_HELD = re.compile("\x00(\\d+)\x00")
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
    _italic_, ~strike~, `code`, ```code blocks```, line breaks. As in Slack, only the control
    sequences written with real ``<`` and ``>`` are markup; ``&amp;``, ``&lt;`` and ``&gt;``
    show as the characters they stand for. Everything is escaped for the page: nothing in a
    message can inject markup into it."""
    out: list[str] = []
    position = 0
    for match in _VERBATIM.finditer(text):
        before = text[position : match.start()]
        if match["block"] is not None:
            # A block stands on its own lines: the line breaks around its fences are its own.
            before = before.removesuffix("\n")
            body = match["block"].removeprefix("\n").removesuffix("\n")
            code = f'<pre class="code">{html.escape(_unescape(body), quote=True)}</pre>'
        else:
            code = f"<code>{html.escape(_unescape(match['inline']), quote=True)}</code>"
        out += [_formatted(before, user_name), code]
        position = match.end()
        if match["block"] is not None and text.startswith("\n", position):
            position += 1
    out.append(_formatted(text[position:], user_name))
    return Markup("".join(out))


def _unescape(text: str) -> str:
    """What Slack shows for its three entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _markup(match: re.Match[str], user_name: Callable[[str], str]) -> str:
    """One control sequence as the page draws it."""
    target, label = match["target"], match["label"]
    shown = html.escape(_unescape(label), quote=True) if label else None
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(user_name(target[1:]))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{shown or html.escape(target[1:])}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{shown or html.escape(target[1:])}</span>'
    if target.startswith(("http://", "https://", "mailto:")):
        url = html.escape(_unescape(target), quote=True)
        return f'<a href="{url}" target="_blank" rel="noopener">{shown or url}</a>'
    return html.escape(_unescape(match.group(0)), quote=True)


def _formatted(text: str, user_name: Callable[[str], str]) -> str:
    """Text outside code: control sequences drawn (and held apart while the rest is escaped
    and emphasised), emphasis, emoji and line breaks."""
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(_markup(match, user_name))
        return f"\x00{len(held) - 1}\x00"

    out = html.escape(_unescape(_MARKUP.sub(hold, text.replace("\x00", ""))), quote=True)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    out = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    out = _HELD.sub(lambda m: held[int(m.group(1))], out)
    return out.replace("\n", "<br>")


def text_of(obj: dict[str, Any] | None, user_name: Callable[[str], str]) -> Markup:
    if not obj:
        return Markup("")
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), user_name)
    return Markup(html.escape(str(obj.get("text", ""))))
