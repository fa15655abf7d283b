"""Slack's Web API (``/api/<method>``) as ``slack-sdk``'s WebClient speaks it.

Any ``xoxb-…`` token is accepted (``not_authed`` / ``invalid_auth`` otherwise); answers are
HTTP 200 with ``{"ok": false, "error": …}`` on failure, as Slack does; channels are found by
name with ``conversations.list`` (cursor-paginated); messages keep their blocks, threads and
metadata; the workspace is seeded with the Acme GTM team that Salesforce's sandbox knows by
e-mail. Clicks on the chat page become signed ``block_actions`` payloads with a working
``response_url``, exactly what Slack sends an app's interactivity URL.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
from typing import Any

Obj = dict[str, Any]

TEAM_ID = "T0ACMEGTM"
TEAM_DOMAIN = "acme-gtm"
APP_ID = "A0CANARY"
BOT_USER = "U0CANARY"
BOT_ID = "B0CANARY"

#: The Acme GTM workspace. E-mails match the Salesforce sandbox's users so that owner routing
#: (Salesforce owner → Slack user by e-mail) works end to end; Gina has no Slack account.
SEED_USERS: list[Obj] = [
    {
        "id": "U0ALICE",
        "name": "alice",
        "real_name": "Alice Nguyen",
        "title": "Account Executive",
        "email": "alice@acme-gtm.example",
    },
    {
        "id": "U0BOB",
        "name": "bob",
        "real_name": "Bob Martinez",
        "title": "Sales Manager",
        "email": "bob@acme-gtm.example",
    },
    {
        "id": "U0CAROL",
        "name": "carol",
        "real_name": "Carol Okafor",
        "title": "Customer Success Manager",
        "email": "carol@acme-gtm.example",
    },
    {
        "id": "U0DAN",
        "name": "dan",
        "real_name": "Dan Reyes",
        "title": "Revenue Operations Manager",
        "email": "dan@acme-gtm.example",
    },
    {
        "id": "U0ERIN",
        "name": "erin",
        "real_name": "Erin Walsh",
        "title": "Finance Manager",
        "email": "erin@acme-gtm.example",
    },
    {
        "id": "U0FRANK",
        "name": "frank",
        "real_name": "Frank Li",
        "title": "Customer Success Director",
        "email": "frank@acme-gtm.example",
    },
]
SEED_CHANNELS: list[tuple[str, str, str]] = [
    ("C0GTMALERTS", "gtm-alerts", "Canary's alerts: what broke, where to look, what to do"),
    ("C0GTMESCAL", "gtm-escalations", "Remediations nobody picked up in time"),
    ("C0REVOPS", "revops", "Revenue operations"),
    ("C0FINANCE", "finance", "Finance and collections"),
    ("C0CUSTSUCCESS", "customer-success", "Customer success team"),
    ("C0WINS", "wins", "Closed Won deals"),
    ("C0GENERAL", "general", "Company-wide"),
]
SEED_GROUPS: list[tuple[str, str, str, list[str]]] = [
    ("S0REVOPS", "revops", "RevOps", ["U0DAN"]),
    ("S0FINANCE", "finance", "Finance", ["U0ERIN"]),
    ("S0CS", "customer-success", "Customer Success", ["U0CAROL", "U0FRANK"]),
    ("S0SALESMGMT", "sales-managers", "Sales managers", ["U0BOB"]),
]

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


class SlackApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _user_object(spec: Obj) -> Obj:
    return {
        "id": spec["id"],
        "team_id": TEAM_ID,
        "name": spec["name"],
        "deleted": False,
        "real_name": spec["real_name"],
        "tz": "America/New_York",
        "is_bot": spec.get("is_bot", False),
        "profile": {
            "real_name": spec["real_name"],
            "display_name": spec["name"],
            "title": spec.get("title", ""),
            "email": spec.get("email"),
        },
    }


class SlackState:
    def __init__(self, public_url: str = "") -> None:
        self.lock = threading.RLock()
        self.public_url = public_url.rstrip("/")
        self._ts = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users = {u["id"]: _user_object(u) for u in SEED_USERS}
            self.users[BOT_USER] = _user_object(
                {"id": BOT_USER, "name": "canary", "real_name": "Canary", "is_bot": True}
            )
            self.channels: dict[str, Obj] = {
                cid: {
                    "id": cid,
                    "name": name,
                    "is_channel": True,
                    "is_private": False,
                    "is_archived": False,
                    "is_member": True,
                    "created": 1700000000,
                    "topic": {"value": topic},
                    "purpose": {"value": topic},
                    "num_members": len(SEED_USERS) + 1,
                }
                for cid, name, topic in SEED_CHANNELS
            }
            self.groups: dict[str, Obj] = {
                gid: {
                    "id": gid,
                    "team_id": TEAM_ID,
                    "handle": handle,
                    "name": name,
                    "is_usergroup": True,
                    "users": list(members),
                    "user_count": len(members),
                }
                for gid, handle, name, members in SEED_GROUPS
            }
            self.messages: dict[str, list[Obj]] = {cid: [] for cid in self.channels}
            self.ephemeral: list[Obj] = []
            self.response_urls: dict[str, Obj] = {}

    # -- helpers --------------------------------------------------------------------------

    def next_ts(self) -> str:
        # Unique, increasing, Slack-shaped ("seconds.micro") even for many posts per second.
        n = next(self._ts)
        return f"{int(time.time())}.{n:06d}"

    def channel(self, ref: str) -> Obj:
        ref = ref.lstrip("#")
        if ref in self.channels:
            return self.channels[ref]
        for item in self.channels.values():
            if item["name"] == ref:
                return item
        raise SlackApiError("channel_not_found")

    def find_message(self, channel_id: str, ts: str) -> Obj | None:
        for message in self.messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        return None

    def user_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user["real_name"] if user else user_id

    def permalink(self, channel_id: str, ts: str) -> str:
        return f"{self.public_url}/archives/{channel_id}/p{ts.replace('.', '')}"

    def post(
        self,
        channel_id: str,
        text: str,
        blocks: list[Obj] | None,
        thread_ts: str | None = None,
        metadata: Obj | None = None,
        user: str = BOT_USER,
    ) -> Obj:
        message: Obj = {
            "type": "message",
            "user": user,
            "bot_id": BOT_ID if user == BOT_USER else None,
            "app_id": APP_ID if user == BOT_USER else None,
            "text": text,
            "ts": self.next_ts(),
            "team": TEAM_ID,
            "channel": channel_id,
        }
        if blocks:
            message["blocks"] = blocks
        if metadata:
            message["metadata"] = metadata
        if thread_ts:
            parent = self.find_message(channel_id, thread_ts)
            if parent is None:
                raise SlackApiError("thread_not_found")
            message["thread_ts"] = thread_ts
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]
        self.messages[channel_id].append(message)
        return message

    def register_response_url(self, channel_id: str, message_ts: str, user: str) -> str:
        token = (
            base64.urlsafe_b64encode(f"{channel_id}:{message_ts}:{user}:{time.time_ns()}".encode())
            .decode()
            .rstrip("=")
        )
        self.response_urls[token] = {
            "channel": channel_id,
            "ts": message_ts,
            "user": user,
            "uses": 0,
        }
        return f"{self.public_url}/_sandbox/slack/respond/{token}"

    def respond(self, token: str, body: Obj) -> None:
        """What a POST to a ``response_url`` does: ephemeral reply, replace or delete."""
        with self.lock:
            target = self.response_urls.get(token)
            if target is None:
                raise SlackApiError("expired_url")
            target["uses"] += 1
            if target["uses"] > 5:  # Slack allows five responses per response_url
                raise SlackApiError("used_url")
            original = self.find_message(target["channel"], target["ts"])
            if body.get("delete_original") and original is not None:
                self.messages[target["channel"]].remove(original)
                return
            if body.get("replace_original") and original is not None:
                original["text"] = body.get("text", original["text"])
                if "blocks" in body:
                    original["blocks"] = body["blocks"]
                original["edited"] = {"user": BOT_USER, "ts": self.next_ts()}
                return
            if body.get("response_type") == "in_channel":
                self.post(
                    target["channel"],
                    body.get("text", ""),
                    body.get("blocks"),
                    thread_ts=body.get("thread_ts"),
                )
                return
            self.ephemeral.append(
                {
                    "channel": target["channel"],
                    "user": target["user"],
                    "text": body.get("text", ""),
                    "blocks": body.get("blocks"),
                    "ts": self.next_ts(),
                }
            )


# -- methods --------------------------------------------------------------------------------


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
    if not isinstance(value, list) or not all(
        isinstance(b, dict) and isinstance(b.get("type"), str) for b in value
    ):
        raise SlackApiError("invalid_blocks")
    if len(value) > 50:
        raise SlackApiError(
            "invalid_blocks",
            response_metadata={
                "messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
            },
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
    if len(text) > 40000:
        raise SlackApiError("msg_too_long")
    return str(text)


def _public_message(message: Obj, with_metadata: bool) -> Obj:
    out = {k: v for k, v in message.items() if v is not None and k != "channel"}
    if not with_metadata:
        out.pop("metadata", None)
    return copy.deepcopy(out)


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
            channel = state.channel(str(args["channel"]))
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
                "message": _public_message(message, True),
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
                "message": _public_message(message, True),
            }
        if method == "chat.postEphemeral":
            channel = state.channel(str(args["channel"]))
            if args["user"] not in state.users:
                raise SlackApiError("user_not_found")
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
                if ("private_channel" if c["is_private"] else "public_channel") in wanted
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
            top = [
                m for m in state.messages[channel["id"]] if m.get("thread_ts") in (None, m["ts"])
            ]
            newest_first = list(reversed(top))
            start, limit = _offset(args.get("cursor")), _limit(args)
            page = newest_first[start : start + limit]
            more = start + limit < len(newest_first)
            with_metadata = _truthy(args.get("include_all_metadata"))
            return {
                "messages": [_public_message(m, with_metadata) for m in page],
                "has_more": more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
            }
        if method == "conversations.replies":
            channel = state.channel(str(args["channel"]))
            parent = state.find_message(channel["id"], str(args["ts"]))
            if parent is None:
                raise SlackApiError("thread_not_found")
            thread = [parent] + [
                m
                for m in state.messages[channel["id"]]
                if m.get("thread_ts") == parent["ts"] and m is not parent
            ]
            return {"messages": [_public_message(m, True) for m in thread], "has_more": False}
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


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"true", "1"}


def authenticate(authorization: str | None, args: Obj) -> None:
    token = ""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        token = value.strip()
    token = token or str(args.pop("token", "") or "")
    if not token:
        raise SlackApiError("not_authed")
    if not token.startswith("xoxb-"):
        raise SlackApiError("invalid_auth")


def block_actions_payload(
    state: SlackState,
    user_id: str,
    channel_id: str,
    message: Obj,
    action: Obj,
    block_id: str | None,
    selected: str | None,
    value: str | None,
) -> Obj:
    """The ``block_actions`` payload Slack posts to the interactivity URL for one click."""
    user = state.users.get(user_id)
    if user is None:
        raise SlackApiError("user_not_found")
    now = f"{time.time():.6f}"
    entry: Obj = {
        "action_id": action["action_id"],
        "block_id": block_id or "",
        "type": action.get("type", "button"),
        "action_ts": now,
    }
    if entry["type"] == "button":
        entry["text"] = action.get("text") or {"type": "plain_text", "text": ""}
        entry["value"] = value if value is not None else action.get("value", "")
        if action.get("style"):
            entry["style"] = action["style"]
    else:
        options = action.get("options") or []
        chosen = next((o for o in options if o.get("value") == selected), None)
        if chosen is None:
            raise SlackApiError("invalid_option")
        entry["selected_option"] = chosen
        if action.get("placeholder"):
            entry["placeholder"] = action["placeholder"]
    channel = state.channels[channel_id]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "sandbox-verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(time.time())}.{TEAM_ID}.{time.time_ns() % 10**12:x}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel["name"]},
        "message": _public_message(message, False),
        "state": {"values": {}},
        "response_url": state.register_response_url(channel_id, message["ts"], user_id),
        "actions": [entry],
    }


def find_element(message: Obj, action_id: str, block_id: str | None) -> tuple[Obj, str | None]:
    """The interactive element a click refers to, and its block's id."""
    for block in message.get("blocks") or []:
        if block_id and block.get("block_id") != block_id:
            continue
        elements = list(block.get("elements") or [])
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if element.get("action_id") == action_id:
                return element, block.get("block_id")
    raise SlackApiError("action_not_found")
