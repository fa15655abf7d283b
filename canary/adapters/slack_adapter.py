"""Slack through slack-sdk's AsyncWebClient, over one pooled aiohttp session: calls are
coroutines on the caller's event loop and reuse kept-alive connections instead of opening one
per call. Returns plain values, never SDK response objects.

``base_url`` points the same code at slack.com or at the local sandbox. Channel, user and group
ids and message timestamps are checked against Slack's shapes before they reach a call (or the
permalink Canary builds from them).

The session is opened on first use, on the running event loop, and belongs to that loop; a
use from another loop gets a session of its own. ``close()`` closes it (the worker's and the
gateway's shutdowns call it); a closed adapter opens a new session when used again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from canary import ids
from canary.adapters.errors import PermanentError, TransientError

SERVICE = "slack"
METADATA_EVENT = "canary_remediation"
#: Slack's refusals of the request itself: asking again cannot help (a person must fix the
#: token, invite the app, or Canary its message). Any other error (``ratelimited``,
#: ``fatal_error``, ``internal_error``, …) is retried.
_PERMANENT = {
    "invalid_auth",
    "not_authed",
    "not_allowed_token_type",
    "account_inactive",
    "token_revoked",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "thread_not_found",
    "message_not_found",
    "cant_update_message",
    "users_not_found",
    "user_not_found",
    "user_not_in_channel",
    "no_such_subteam",
    "missing_scope",
    "invalid_arguments",
    "invalid_cursor",
    "invalid_ts_oldest",
    "invalid_ts_latest",
    "invalid_json",
    "json_not_object",
    # views.*: a trigger used, expired or never handed out, a stack full, a view gone or
    # changed since it was read.
    "invalid_trigger_id",
    "expired_trigger_id",
    "exchanged_trigger_id",
    "push_limit_reached",
    "not_found",
    "hash_conflict",
}


def _refused(err: ids.InvalidId) -> PermanentError:
    return PermanentError(SERVICE, f"the {err}, so Canary did not send the request", "invalid_id")


def checked_id(value: object, role: str, kind: str) -> str:
    """``value`` when it is a Slack id of ``kind``; a permanent error naming its role
    otherwise, never repeating the value."""
    try:
        return ids.slack_id(value, role, kind)
    except ids.InvalidId as err:
        raise _refused(err) from None


def checked_ts(value: object, role: str = "message timestamp") -> str:
    try:
        return ids.slack_ts(value, role)
    except ids.InvalidId as err:
        raise _refused(err) from None


def _translate(exc: SlackApiError) -> Exception:
    response = exc.response
    error = str(response.get("error", "unknown_error")) if response is not None else "unknown"
    status = response.status_code if response is not None else 0
    if status == 429 or error == "ratelimited":
        retry_after = None
        if response is not None:
            header = response.headers.get("Retry-After") or response.headers.get("retry-after")
            retry_after = float(header) if header else None
        return TransientError(SERVICE, "Slack rate-limited the call", error, retry_after)
    if error in _PERMANENT:
        return PermanentError(SERVICE, error, error)
    return TransientError(SERVICE, error, error)


#: How long a directory answer (who has this e-mail, who is in this group) is reused. Every
#: remediation asks; Slack allows usergroups.* about 20 calls a minute (tier 2), so a burst
#: of alerts would otherwise be rate-limited on lookups before it posted anything.
DIRECTORY_TTL_SECONDS = 300.0
#: How long the gateway reuses who is in a group when it checks a click: someone removed
#: from a group can no longer press its buttons a minute later.
CLICK_DIRECTORY_TTL_SECONDS = 60.0
#: Pages of a channel's history (of ``limit`` posts each) a look for an earlier post reads at
#: most: 5,000 posts with the default page. A channel busier than that since the post's task
#: started is searched no further (the post may then be made twice).
MAX_LOOK_PAGES = 25
#: Connections to Slack open at once per adapter; more calls at once wait for one to be free.
MAX_CONNECTIONS = 64
#: How long an idle connection is kept for the next call: long enough to carry a burst of
#: posts, short enough to be dropped by Canary before the server drops it.
KEEPALIVE_SECONDS = 2.0


class SlackAdapter:
    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        timeout: int = 15,
        directory_ttl: float = DIRECTORY_TTL_SECONDS,
    ) -> None:
        self._token = token
        self._base_url = base_url if not base_url or base_url.endswith("/") else base_url + "/"
        self._timeout = timeout
        #: One client and its session per event loop that used the adapter (in practice one).
        self._clients: dict[asyncio.AbstractEventLoop, AsyncWebClient] = {}
        self._channels: dict[str, str] = {}
        self._directory_ttl = directory_ttl
        self._directory: dict[str, tuple[float, Any]] = {}

    async def _client(self) -> AsyncWebClient:
        """The running loop's client, its session opened now if it has none (or it was
        closed)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is not None and client.session is not None and not client.session.closed:
            return client
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS
            ),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        kwargs: dict[str, Any] = {"token": self._token, "timeout": self._timeout}
        if self._base_url:
            kwargs["base_url"] = self._base_url
        self._clients[loop] = client = AsyncWebClient(session=session, **kwargs)
        await self._close_sessions_of_closed_loops()
        return client

    async def _close_sessions_of_closed_loops(self) -> None:
        # A session whose loop closed first (a test's loop) can neither send nor wait: closing
        # it, from any loop, only marks it closed, so it is not reported unclosed (connections
        # it kept are left to the garbage collector).
        for loop in [loop for loop in self._clients if loop.is_closed()]:
            client = self._clients.pop(loop, None)
            if client is not None and client.session is not None:
                await client.session.close()

    async def close(self) -> None:
        """Close the running loop's session (and those of loops already closed). The adapter
        stays usable: its next call opens a new session."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None and client.session is not None:
            await client.session.close()
        await self._close_sessions_of_closed_loops()

    async def _directory_lookup(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """A short-lived per-process cache of directory reads (errors are not cached)."""
        now = time.monotonic()
        hit = self._directory.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        self._directory[key] = (now + self._directory_ttl, value)
        return value

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await getattr(await self._client(), method)(**kwargs)
        except SlackApiError as exc:
            raise _translate(exc) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            # A timeout over the whole call says nothing of itself.
            why = str(exc) or f"no answer within {self._timeout} s"
            raise TransientError(SERVICE, f"could not reach Slack: {why}") from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def channel_id(self, channel: str) -> str:
        """Resolve ``#name`` (or a bare name) to a channel id; ids pass through."""
        name = channel.lstrip("#")
        if not channel.startswith("#") and ids.is_slack_id(name, "channel"):
            return name
        if not ids.SLACK_CHANNEL_NAME.fullmatch(channel):
            raise PermanentError(
                SERVICE,
                "the channel is neither a Slack channel id (C, G or D then capital letters and "
                "digits) nor a channel name (lowercase letters, digits, - and _), so Canary did "
                "not send the request",
                "invalid_id",
            )
        if name in self._channels:
            return self._channels[name]
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"types": "public_channel,private_channel", "limit": 200}
            if cursor:
                kwargs["cursor"] = cursor
            page = await self._call("conversations_list", **kwargs)
            for item in page.get("channels", []):
                self._channels[item["name"]] = item["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if name in self._channels or not cursor:
                break
        if name not in self._channels:
            raise PermanentError(
                SERVICE, f"channel #{name} not found (is the app invited?)", "channel_not_found"
            )
        return self._channels[name]

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata_key: str | None = None,
    ) -> tuple[str, str]:
        # The timestamp is checked before a channel name is looked up: nothing is sent for a
        # request that would be refused.
        thread = checked_ts(thread_ts, "thread timestamp") if thread_ts else None
        kwargs: dict[str, Any] = {"channel": await self.channel_id(channel), "text": text}
        if blocks:
            kwargs["blocks"] = blocks
        if thread:
            kwargs["thread_ts"] = thread
        if metadata_key:
            kwargs["metadata"] = {
                "event_type": METADATA_EVENT,
                "event_payload": {"key": metadata_key},
            }
        data = await self._call("chat_postMessage", **kwargs)
        return str(data["channel"]), str(data["ts"])

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        ts = checked_ts(ts)
        kwargs: dict[str, Any] = {"channel": await self.channel_id(channel), "ts": ts, "text": text}
        if blocks is not None:
            kwargs["blocks"] = blocks
        await self._call("chat_update", **kwargs)

    async def find_by_metadata(
        self,
        channel: str,
        metadata_key: str,
        limit: int = 200,
        thread_ts: str | None = None,
        oldest: float | None = None,
    ) -> str | None:
        """The ts of a message this app already posted with ``metadata_key``, if any: in the
        channel (posted since ``oldest``, a Unix time, when given), or among the replies to
        ``thread_ts`` (history does not list replies).

        A post whose activity timed out after Slack accepted it is retried; looking first
        keeps the retry from posting the same alert twice. Slack lists the newest first, a
        page of ``limit`` at a time; the look follows the pages (a busy channel may have had
        hundreds of posts since the one it looks for: a burst of alerts, a storm of
        escalations), up to ``MAX_LOOK_PAGES`` of them."""
        thread = checked_ts(thread_ts, "thread timestamp") if thread_ts else None
        since = {"oldest": f"{oldest:.6f}"} if oldest is not None else {}
        channel_id = await self.channel_id(channel)

        async def page(cursor: dict[str, str]) -> dict[str, Any]:
            shown = {"channel": channel_id, "limit": limit, "include_all_metadata": True}
            if thread:
                return await self._call("conversations_replies", ts=thread, **shown, **cursor)
            return await self._call("conversations_history", **shown, **since, **cursor)

        cursor: dict[str, str] = {}
        for _ in range(MAX_LOOK_PAGES):
            data = await page(cursor)
            for message in data.get("messages", []):
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("key") == metadata_key
                ):
                    return str(message["ts"])
            following = (data.get("response_metadata") or {}).get("next_cursor")
            if not following:
                return None
            cursor = {"cursor": str(following)}
        return None

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A top-level message's link, as chat.getPermalink gives it: the workspace's address,
        ``archives/<channel id>/p<ts without its dot>``. The workspace's address (auth.test) is
        kept with the directory answers, so an alert's link costs no call of its own; without
        one, chat.getPermalink is asked."""
        ts = checked_ts(ts)
        channel_id = await self.channel_id(channel)
        workspace = await self._workspace_url()
        if workspace:
            return f"{workspace}archives/{channel_id}/p{ts.replace('.', '')}"
        try:
            data = await self._call("chat_getPermalink", channel=channel_id, message_ts=ts)
        except PermanentError:
            return None
        return data.get("permalink")

    async def _workspace_url(self) -> str | None:
        async def load() -> str:
            try:
                url = str((await self._call("auth_test")).get("url") or "")
            except PermanentError:
                return ""
            return url if not url or url.endswith("/") else url + "/"

        return await self._directory_lookup("workspace", load) or None

    async def user_by_email(self, email: str) -> dict[str, Any] | None:
        async def load() -> dict[str, Any] | None:
            try:
                data = await self._call("users_lookupByEmail", email=email)
            except PermanentError as exc:
                if exc.code == "users_not_found":
                    return None
                raise
            return dict(data.get("user") or {}) or None

        found = await self._directory_lookup(f"user:{email.lower()}", load)
        return dict(found) if found else None

    async def user_info(self, user: str) -> dict[str, Any] | None:
        """A person by Slack id (``users.info``); None when Slack has no such user."""
        try:
            data = await self._call("users_info", user=checked_id(user, "user id", "user"))
        except PermanentError as exc:
            if exc.code == "user_not_found":
                return None
            raise
        return dict(data.get("user") or {}) or None

    async def publish_home(self, user: str, view: dict[str, Any]) -> str:
        """Publish a person's Home tab (``views.publish``); the view's id."""
        data = await self._call(
            "views_publish", user_id=checked_id(user, "user id", "user"), view=view
        )
        return str((data.get("view") or {}).get("id") or "")

    async def usergroup_members(self, group: str) -> list[str]:
        """Members of a user group given by handle (``revops``, ``@revops``) or id."""
        return list(
            await self._directory_lookup(f"group:{group}", lambda: self._usergroup_members(group))
        )

    async def _usergroup_members(self, group: str) -> list[str]:
        handle = group.lstrip("@")
        group_id = handle if ids.is_slack_id(handle, "usergroup") else None
        if group_id is None:
            listed = await self._call("usergroups_list")
            for item in listed.get("usergroups", []):
                if item.get("handle") == handle or item.get("name") == handle:
                    group_id = item.get("id")
                    break
        if group_id is None:
            raise PermanentError(SERVICE, f"no user group @{handle}", "no_such_subteam")
        data = await self._call("usergroups_users_list", usergroup=group_id)
        return [str(u) for u in data.get("users", [])]

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call(
            "chat_postEphemeral",
            channel=await self.channel_id(channel),
            user=checked_id(user, "user id", "user"),
            text=text,
        )
