"""The Web API's methods as ``slack-sdk``'s WebClient calls them: any ``xoxb-…`` token is
accepted (``not_authed`` / ``invalid_auth`` otherwise), a failure is HTTP 200 with
``{"ok": false, "error": …}`` as Slack answers it, and lists are cursor-paginated.

Messages are held to Slack's rules: Block Kit checked as Slack checks it (``invalid_blocks``
with Slack's ``errors`` and ``response_metadata.messages``), a ``text`` over 40,000 characters
refused (``msg_too_long``), a post to a channel the app is not in refused (``not_in_channel``).
:data:`METHOD_ERRORS` lists every error each method can answer; an answer outside it is a
sandbox bug, and the conformance test holds the list to Slack's description of each method.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from typing import Any

from sandbox.slack.blockkit import MESSAGE_TEXT, message_block_errors
from sandbox.slack.seed import BOT_ID, BOT_USER, TEAM_ID, Obj
from sandbox.slack.state import SlackApiError, SlackState, public_message
from sandbox.slack.views import VIEW_ERRORS, VIEW_METHODS, call_view_method

#: The one method that takes the app-level token: it opens a Socket Mode connection.
OPEN_CONNECTION = "apps.connections.open"

#: What any method answers: a missing or wrong token, a JSON body that is not one, too many
#: calls (``ratelimited``, see ``ratelimits``).
COMMON_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "invalid_json", "json_not_object", "ratelimited"}
)
_MESSAGE_ERRORS = frozenset({"no_text", "msg_too_long", "invalid_blocks", "invalid_blocks_format"})
_METADATA_ERRORS = frozenset({"invalid_metadata_format", "invalid_metadata_schema"})
#: Every error each method can answer (a fault injected through ``/_sandbox/faults`` aside).
METHOD_ERRORS: dict[str, frozenset[str]] = {
    method: COMMON_ERRORS | frozenset(specific)
    for method, specific in {
        "api.test": set(),
        "apps.connections.open": {"not_allowed_token_type"},
        "auth.test": set(),
        "chat.postMessage": {
            "invalid_arguments",
            "channel_not_found",
            "not_in_channel",
            "thread_not_found",
            *_MESSAGE_ERRORS,
            *_METADATA_ERRORS,
        },
        "chat.update": {
            "invalid_arguments",
            "channel_not_found",
            "message_not_found",
            "cant_update_message",
            *_MESSAGE_ERRORS,
            *_METADATA_ERRORS,
        },
        "chat.postEphemeral": {
            "invalid_arguments",
            "channel_not_found",
            "user_not_in_channel",
            *_MESSAGE_ERRORS,
        },
        "chat.getPermalink": {"invalid_arguments", "channel_not_found", "message_not_found"},
        "conversations.list": {"invalid_arguments", "invalid_cursor"},
        "conversations.info": {"invalid_arguments", "channel_not_found"},
        "conversations.history": {
            "invalid_arguments",
            "channel_not_found",
            "invalid_cursor",
            "invalid_ts_oldest",
            "invalid_ts_latest",
        },
        "conversations.replies": {
            "invalid_arguments",
            "channel_not_found",
            "thread_not_found",
            "invalid_cursor",
        },
        "users.lookupByEmail": {"invalid_arguments", "users_not_found"},
        "users.info": {"invalid_arguments", "user_not_found"},
        "users.list": set(),
        "usergroups.list": set(),
        "usergroups.users.list": {"invalid_arguments", "no_such_subteam"},
        **VIEW_ERRORS,
    }.items()
}

# Errors Slack answers for malformed calls, by method, checked before the method runs.
_REQUIRED: dict[str, list[str]] = {
    "chat.postMessage": ["channel"],
    "chat.update": ["channel", "ts"],
    "chat.postEphemeral": ["channel", "user"],
    "chat.getPermalink": ["channel", "message_ts"],
    "conversations.history": ["channel"],
    "conversations.replies": ["channel", "ts"],
    "conversations.info": ["channel"],
    "users.lookupByEmail": ["email"],
    "users.info": ["user"],
    "usergroups.users.list": ["usergroup"],
}


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        raise SlackApiError("invalid_cursor") from None


def _limit(args: Obj, default: int = 100) -> int:
    try:
        return max(1, min(int(args.get("limit") or default), 1000))
    except (TypeError, ValueError):
        raise SlackApiError("invalid_arguments") from None


def _blocks(value: Any) -> list[Obj] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SlackApiError("invalid_blocks_format") from None
    if not isinstance(value, list):
        raise SlackApiError("invalid_blocks_format")
    errors = message_block_errors(value)
    if errors:
        raise SlackApiError(
            "invalid_blocks",
            errors=errors,
            response_metadata={"messages": [f"[ERROR] {line}" for line in errors]},
        )
    return value


def _metadata(value: Any) -> Obj | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SlackApiError("invalid_metadata_format") from None
    if not isinstance(value, dict) or "event_type" not in value:
        raise SlackApiError("invalid_metadata_schema")
    return value


def _text(args: Obj, blocks: list[Obj] | None) -> str:
    text = args.get("text") or ""
    if not text and not blocks and not args.get("attachments"):
        raise SlackApiError("no_text")
    if len(text) > MESSAGE_TEXT:
        raise SlackApiError("msg_too_long")
    return str(text)


def call_method(state: SlackState, method: str, args: Obj) -> Obj:
    """Run one Web API method; raises :class:`SlackApiError` for Slack's ``ok: false``."""
    for name in _REQUIRED.get(method, []):
        if not args.get(name):
            raise SlackApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
            )
    message: Obj | None
    user: Obj | None
    group: Obj | None
    with state.lock:
        if method == "api.test":
            return {"args": args}
        if method in VIEW_METHODS:
            return call_view_method(state, method, args)
        if method == OPEN_CONNECTION:
            return {"url": state.socket_mode.issue_url(state.public_url)}
        if method == "auth.test":
            return {
                "url": f"{state.public_url}/",
                "team": "Acme GTM",
                "user": "canary",
                "team_id": TEAM_ID,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ref = str(args["channel"])
            # A person's user id posts in the app's direct message with them.
            channel = state.open_im(ref) if ref in state.users else state.channel(ref)
            if not channel["is_member"]:
                raise SlackApiError("not_in_channel")
            blocks = _blocks(args.get("blocks"))
            message = state.post(
                channel["id"],
                _text(args, blocks),
                blocks,
                thread_ts=args.get("thread_ts") or None,
                metadata=_metadata(args.get("metadata")),
            )
            return {
                "channel": channel["id"],
                "ts": message["ts"],
                "message": public_message(message, True),
            }
        if method == "chat.update":
            channel = state.channel(str(args["channel"]))
            message = state.find_message(channel["id"], str(args["ts"]))
            if message is None:
                raise SlackApiError("message_not_found")
            if message.get("user") != BOT_USER:
                raise SlackApiError("cant_update_message")
            blocks = _blocks(args.get("blocks"))
            if "text" in args or blocks is not None:
                message["text"] = _text(
                    args, blocks if blocks is not None else message.get("blocks")
                )
            if blocks is not None:
                message["blocks"] = blocks
            if args.get("metadata"):
                message["metadata"] = _metadata(args["metadata"])
            message["edited"] = {"user": BOT_USER, "ts": state.next_ts()}
            return {
                "channel": channel["id"],
                "ts": message["ts"],
                "text": message["text"],
                "message": public_message(message, True),
            }
        if method == "chat.postEphemeral":
            channel = state.channel(str(args["channel"]))
            if args["user"] not in state.users:
                raise SlackApiError("user_not_in_channel")
            blocks = _blocks(args.get("blocks"))
            ts = state.next_ts()
            state.ephemeral.append(
                {
                    "channel": channel["id"],
                    "user": args["user"],
                    "text": _text(args, blocks),
                    "blocks": blocks,
                    "ts": ts,
                }
            )
            return {"message_ts": ts}
        if method == "chat.getPermalink":
            channel = state.channel(str(args["channel"]))
            if state.find_message(channel["id"], str(args["message_ts"])) is None:
                raise SlackApiError("message_not_found")
            return {
                "channel": channel["id"],
                "permalink": state.permalink(channel["id"], str(args["message_ts"])),
            }
        if method == "conversations.list":
            wanted = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
            items = [
                c
                for c in state.channels.values()
                if _conversation_type(c) in wanted
                and not (c["is_archived"] and _truthy(args.get("exclude_archived")))
            ]
            start, limit = _offset(args.get("cursor")), _limit(args)
            page = items[start : start + limit]
            more = start + limit < len(items)
            return {
                "channels": copy.deepcopy(page),
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
            }
        if method == "conversations.info":
            return {"channel": copy.deepcopy(state.channel(str(args["channel"])))}
        if method == "conversations.history":
            channel = state.channel(str(args["channel"]))
            within = _time_range(args)
            top = [m for m in state.top_level(channel["id"]) if within(m["ts"])]
            newest_first = list(reversed(top))
            start, limit = _offset(args.get("cursor")), _limit(args)
            page = newest_first[start : start + limit]
            more = start + limit < len(newest_first)
            with_metadata = _truthy(args.get("include_all_metadata"))
            return {
                "messages": [public_message(m, with_metadata) for m in page],
                "has_more": more,
                "pin_count": 0,
                "channel_actions_ts": None,
                "channel_actions_count": 0,
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
            }
        if method == "conversations.replies":
            channel = state.channel(str(args["channel"]))
            parent = state.find_message(channel["id"], str(args["ts"]))
            if parent is None:
                raise SlackApiError("thread_not_found")
            # The parent first, then its replies oldest first, a page at a time.
            thread = [parent, *state.replies(channel["id"], parent["ts"])]
            start, limit = _offset(args.get("cursor")), _limit(args, default=1000)
            page = thread[start : start + limit]
            more = start + limit < len(thread)
            messages = [public_message(m, True) for m in page]
            if start == 0:
                # The thread's parent says whether the caller follows it (the app follows none).
                messages[0].setdefault("subscribed", False)
            return {
                "messages": messages,
                "has_more": more,
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
            }
        if method == "users.lookupByEmail":
            email = str(args["email"]).lower()
            for user in state.users.values():
                if (user["profile"].get("email") or "").lower() == email:
                    return {"user": copy.deepcopy(user)}
            raise SlackApiError("users_not_found")
        if method == "users.info":
            user = state.users.get(str(args["user"]))
            if user is None:
                raise SlackApiError("user_not_found")
            return {"user": copy.deepcopy(user)}
        if method == "users.list":
            return {
                "members": copy.deepcopy(list(state.users.values())),
                "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": ""},
            }
        if method == "usergroups.list":
            groups = copy.deepcopy(list(state.groups.values()))
            if not _truthy(args.get("include_users")):
                for group in groups:
                    group.pop("users", None)
            return {"usergroups": groups}
        if method == "usergroups.users.list":
            group = state.groups.get(str(args["usergroup"]))
            if group is None:
                raise SlackApiError("no_such_subteam")
            return {"users": list(group["users"])}
    raise SlackApiError("unknown_method")


def _conversation_type(channel: Obj) -> str:
    """What conversations.list's ``types`` calls a conversation."""
    if channel.get("is_im"):
        return "im"
    return "private_channel" if channel["is_private"] else "public_channel"


def _time_range(args: Obj) -> Callable[[str], bool]:
    """conversations.history's ``oldest`` and ``latest`` (message timestamps; ``inclusive``
    keeps a message at either end): whether a message's ts falls in the range."""
    bounds: list[float | None] = []
    for name in ("oldest", "latest"):
        value = args.get(name)
        if value in (None, ""):
            bounds.append(None)
            continue
        try:
            bounds.append(float(str(value)))
        except ValueError:
            raise SlackApiError(f"invalid_ts_{name}") from None
    oldest, latest = bounds
    inclusive = _truthy(args.get("inclusive"))

    def within(ts: str) -> bool:
        at = float(ts)
        if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
            return False
        return latest is None or at < latest or (at == latest and inclusive)

    return within


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"true", "1"}


def authenticate(authorization: str | None, args: Obj, method: str = "") -> None:
    token = ""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        token = value.strip()
    if method == OPEN_CONNECTION:
        _authenticate_app(token, args)
        return
    token = token or str(args.pop("token", "") or "")
    if not token:
        raise SlackApiError("not_authed")
    if not token.startswith("xoxb-"):
        raise SlackApiError("invalid_auth")


def _authenticate_app(token: str, args: Obj) -> None:
    """``apps.connections.open`` takes the app-level token (``xapp-…``), in the Authorization
    header only (docs.slack.dev/reference/methods/apps.connections.open: passed as a POST
    parameter it is an error); a bot or user token is ``not_allowed_token_type``."""
    args.pop("token", None)
    if not token:
        raise SlackApiError("not_authed")
    if token.startswith(("xoxb-", "xoxp-")):
        raise SlackApiError("not_allowed_token_type")
    if not token.startswith("xapp-"):
        raise SlackApiError("invalid_auth")
