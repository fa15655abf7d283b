"""One Slack workspace: its people, channels, user groups, messages (with their threads),
ephemeral messages, the ``response_url``s handed out with clicks and the rate limits' counts.

The app's direct messages with a person (its App Home's Messages tab) are conversations too:
``chat.postMessage`` with the person's user id as ``channel`` opens it (an ``im``, ``D…``)
and posts there, as Slack does; conversations.list names it only when asked for ``im``.

People, channels and groups carry every field Slack's description of the Web API marks
required, so an app that reads one finds it where Slack puts it."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from typing import Any

from sandbox.slack.ratelimits import RateLimiter
from sandbox.slack.seed import (
    APP_ID,
    BOT_ID,
    BOT_USER,
    CREATED,
    OUTSIDE_CHANNELS,
    SEED_CHANNELS,
    SEED_GROUPS,
    SEED_USERS,
    TEAM_ID,
    Obj,
)
from sandbox.slack.socket_hub import SocketModeHub
from sandbox.slack.view_store import Views


class SlackApiError(Exception):
    """Slack's ``{"ok": false, "error": …}`` answer, with any fields Slack adds to it."""

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
        "is_app_user": False,
        "updated": CREATED,
        "profile": {
            "real_name": spec["real_name"],
            "real_name_normalized": spec["real_name"],
            "display_name": spec["name"],
            "display_name_normalized": spec["name"],
            "title": spec.get("title", ""),
            "email": spec.get("email"),
            "avatar_hash": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "fields": None,
        },
    }


def _channel_object(channel_id: str, name: str, topic: str, member: bool) -> Obj:
    about = {"value": topic, "creator": "U0DAN", "last_set": CREATED}
    return {
        "id": channel_id,
        "name": name,
        "name_normalized": name,
        "created": CREATED,
        "creator": "U0DAN",
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": False,
        "is_archived": False,
        "is_general": name == "general",
        "is_shared": False,
        "is_org_shared": False,
        "is_member": member,
        "topic": dict(about),
        "purpose": dict(about),
        "num_members": len(SEED_USERS) + (1 if member else 0),
    }


def im_id(user_id: str) -> str:
    """The id of the app's direct message conversation with ``user_id`` (``D…``)."""
    return "D0" + user_id.removeprefix("U0")[:9]


def _im_object(channel_id: str, user_id: str) -> Obj:
    """A direct message conversation as Slack describes one: no name, the person it is with."""
    return {
        "id": channel_id,
        "created": int(time.time()),
        "is_channel": False,
        "is_group": False,
        "is_im": True,
        "is_mpim": False,
        "is_private": True,
        "is_archived": False,
        "is_org_shared": False,
        "is_member": True,
        "user": user_id,
        "is_user_deleted": False,
        "priority": 0,
    }


def _group_object(group_id: str, handle: str, name: str, members: list[str]) -> Obj:
    return {
        "id": group_id,
        "team_id": TEAM_ID,
        "handle": handle,
        "name": name,
        "description": name,
        "is_usergroup": True,
        "is_subteam": True,
        "is_external": False,
        "auto_type": None,
        "auto_provision": False,
        "enterprise_subteam_id": "",
        "date_create": CREATED,
        "date_update": CREATED,
        "date_delete": 0,
        "created_by": "U0DAN",
        "updated_by": "U0DAN",
        "deleted_by": None,
        "prefs": {"channels": [], "groups": []},
        "users": list(members),
        "user_count": len(members),
    }


class SlackState:
    """The workspace, behind one lock."""

    def __init__(self, public_url: str = "") -> None:
        self.lock = threading.RLock()
        self.public_url = public_url.rstrip("/")
        self._ts = itertools.count(1)
        self.limiter = RateLimiter()
        # The app's Socket Mode connections outlive a reset, as its process does.
        self.socket_mode = SocketModeHub()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users = {u["id"]: _user_object(u) for u in SEED_USERS}
            self.users[BOT_USER] = _user_object(
                {"id": BOT_USER, "name": "canary", "real_name": "Canary", "is_bot": True}
            )
            self.channels: dict[str, Obj] = {
                cid: _channel_object(cid, name, topic, member=True)
                for cid, name, topic in SEED_CHANNELS
            }
            self.channels.update(
                (cid, _channel_object(cid, name, topic, member=False))
                for cid, name, topic in OUTSIDE_CHANNELS
            )
            self.groups: dict[str, Obj] = {
                gid: _group_object(gid, handle, name, members)
                for gid, handle, name, members in SEED_GROUPS
            }
            # Each conversation's messages in the order posted (so in ts order), and indexed as
            # Slack's own store is: by ts, the top-level ones apart, the replies by their parent.
            self.messages: dict[str, list[Obj]] = {}
            self._by_ts: dict[str, dict[str, Obj]] = {}
            self._top: dict[str, list[Obj]] = {}
            self._replies: dict[str, dict[str, list[Obj]]] = {}
            for channel_id in self.channels:
                self._open_conversation(channel_id)
            self.ims: dict[str, str] = {}  # person's user id → the app's DM with them
            self.ephemeral: list[Obj] = []
            self.response_urls: dict[str, Obj] = {}
            self.views = Views()
            self.limiter.reset()

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
            if item.get("name") == ref:
                return item
        raise SlackApiError("channel_not_found")

    def open_im(self, user_id: str) -> Obj:
        """The app's direct message conversation with a person, opened on first use; a bot
        or an unknown id has none (``channel_not_found``, as chat.postMessage answers)."""
        user = self.users.get(user_id)
        if user is None or user["is_bot"]:
            raise SlackApiError("channel_not_found")
        if user_id not in self.ims:
            channel_id = im_id(user_id)
            self.channels[channel_id] = _im_object(channel_id, user_id)
            self._open_conversation(channel_id)
            self.ims[user_id] = channel_id
        return self.channels[self.ims[user_id]]

    def _open_conversation(self, channel_id: str) -> None:
        """An empty message log, with its indexes, for a new conversation."""
        self.messages[channel_id] = []
        self._by_ts[channel_id], self._top[channel_id] = {}, []
        self._replies[channel_id] = {}

    def find_message(self, channel_id: str, ts: str) -> Obj | None:
        return self._by_ts.get(channel_id, {}).get(ts)

    def top_level(self, channel_id: str) -> list[Obj]:
        """The conversation's messages outside threads (thread parents included), oldest
        first."""
        return self._top.get(channel_id, [])

    def replies(self, channel_id: str, parent_ts: str) -> list[Obj]:
        """The replies in the thread under ``parent_ts``, oldest first."""
        return self._replies.get(channel_id, {}).get(parent_ts, [])

    def delete(self, channel_id: str, message: Obj) -> None:
        self.messages[channel_id].remove(message)
        self._by_ts[channel_id].pop(message["ts"], None)
        thread = message.get("thread_ts")
        if thread in (None, message["ts"]):
            self._top[channel_id].remove(message)
        else:
            self._replies[channel_id][thread].remove(message)

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
            message["parent_user_id"] = parent.get("user")
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]
        self.messages[channel_id].append(message)
        self._by_ts[channel_id][message["ts"]] = message
        if thread_ts:
            self._replies[channel_id].setdefault(thread_ts, []).append(message)
        else:
            self._top[channel_id].append(message)
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
                self.delete(target["channel"], original)
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


def public_message(message: Obj, with_metadata: bool) -> Obj:
    """A message as the API shows it: a copy, without its channel and, unless asked, metadata.

    The copy is shallow: a stored message's values (its blocks, metadata, ``edited``) are
    replaced when it changes, never changed in place, so an answer (and the recorder's copy
    of it) keeps showing the message as it was."""
    return {
        k: v
        for k, v in message.items()
        if v is not None and k != "channel" and (with_metadata or k != "metadata")
    }
