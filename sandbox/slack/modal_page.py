"""The person's open modal as the sandbox's pages draw it (the chat page and the Home tab), and
where the page goes after the modal's submission: back to the channel or to the Home tab, with
the errors Slack shows under the modal's fields carried in the address (``e.<block id>``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from sandbox.slack.mrkdwn import text_of

#: Where a page's modal sends the person after submitting it, when it came from the Home tab.
HOME = "home"
#: The prefix of a field's error in the page's address.
ERROR_PREFIX = "e."


def page_modal(
    view: dict[str, Any], name_of: Callable[[str], str], errors: Mapping[str, str]
) -> dict[str, Any]:
    """The modal as the page draws it: its text blocks and fields, each field with the error
    Slack shows under it; errors naming no field of the modal are shown above its fields."""
    fields, texts = [], []
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            element = block["element"]
            block_id = block.get("block_id") or ""
            fields.append(
                {
                    "block_id": block_id,
                    "label": (block.get("label") or {}).get("text", ""),
                    "type": element.get("type"),
                    "optional": bool(block.get("optional")),
                    "multiline": bool(element.get("multiline")),
                    "options": [
                        {"value": o["value"], "text": o["text"]["text"]}
                        for o in element.get("options") or []
                    ],
                    "initial": (element.get("initial_option") or {}).get("value"),
                    "error": errors.get(block_id),
                }
            )
        elif block.get("type") == "context":
            texts += [text_of(e, name_of) for e in block.get("elements") or []]
        elif block.get("type") == "section":
            texts.append(text_of(block.get("text"), name_of))
    named = {f["block_id"] for f in fields}
    return {
        "id": view["id"],
        "title": (view.get("title") or {}).get("text", ""),
        "submit": (view.get("submit") or {}).get("text", "Submit"),
        "close": (view.get("close") or {}).get("text", "Cancel"),
        "texts": texts,
        "fields": fields,
        "other_errors": [m for k, m in errors.items() if k not in named],
    }


def field_errors(query: Mapping[str, str]) -> dict[str, str]:
    """The modal's field errors a page's address carries (block id → message)."""
    return {
        k.removeprefix(ERROR_PREFIX): v[:300]
        for k, v in query.items()
        if k.startswith(ERROR_PREFIX) and v
    }


def back_to(back: str, user: str) -> str:
    """The page to return to: the Home tab, or a channel of the chat page."""
    if back == HOME:
        return f"/home?as={quote(user)}&shown=1"
    return f"/?channel={quote(back or 'gtm-alerts')}&as={quote(user)}"


def with_errors(target: str, errors: Mapping[str, str]) -> str:
    """``target`` carrying the fields' errors, marked as a refusal (``err=1``)."""
    return f"{target}&err=1&" + urlencode(
        {f"{ERROR_PREFIX}{k}": v[:300] for k, v in errors.items()}
    )
