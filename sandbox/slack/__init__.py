"""Slack's Web API (``/api/<method>``) as ``slack-sdk``'s WebClient speaks it.

Any ``xoxb-…`` token is accepted (``not_authed`` / ``invalid_auth`` otherwise); answers are
HTTP 200 with ``{"ok": false, "error": …}`` on failure, as Slack does; channels are found by
name with ``conversations.list`` (cursor-paginated); messages keep their blocks, threads and
metadata; the workspace is seeded with the Acme GTM team that Salesforce's sandbox knows by
e-mail. Clicks on the chat page become signed ``block_actions`` payloads with a working
``response_url``, exactly what Slack sends an app's interactivity URL.

It is as strict as Slack: messages are held to Block Kit's documented limits and types
(``blockkit``: ``invalid_blocks`` in Slack's envelope, ``msg_too_long``), posts to a channel
the app is not in are refused, and, when turned on, each method's rate-limit tier answers 429
with ``Retry-After`` (``ratelimits``).

``router`` serves the Web API (``methods``) and ``response_url``s; ``chat`` is the chat page,
whose clicks ``interactivity`` signs and delivers; ``state`` holds the workspace, seeded from
``seed``.
"""
