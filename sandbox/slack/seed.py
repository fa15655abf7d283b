"""The Acme GTM workspace the sandbox's Slack starts with: its identity, people, channels and
user groups, and the shortcuts Canary's app declares (its manifest's ``features.shortcuts``)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

TEAM_ID = "T0ACMEGTM"
TEAM_DOMAIN = "acme-gtm"
APP_ID = "A0CANARY"
BOT_USER = "U0CANARY"
BOT_ID = "B0CANARY"
#: The app's shortcuts, as deploy/slack-app-manifest.yaml declares them (a unit test holds the
#: two alike): Slack offers a global one from the message box and a message one in each
#: message's "…" menu, each under the app's name.
SHORTCUTS: list[Obj] = [
    {"type": "global", "callback_id": "canary_report", "name": "Report an error"},
    {"type": "message", "callback_id": "canary_report_message", "name": "Report this to Canary"},
]
#: When the workspace, its channels and groups were made (epoch seconds).
CREATED = 1700000000

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
#: Channels the app has not been invited to: a post there is refused with not_in_channel.
OUTSIDE_CHANNELS: list[tuple[str, str, str]] = [
    ("C0RANDOM", "random", "Anything that is not work"),
]
SEED_GROUPS: list[tuple[str, str, str, list[str]]] = [
    ("S0REVOPS", "revops", "RevOps", ["U0DAN"]),
    ("S0FINANCE", "finance", "Finance", ["U0ERIN"]),
    ("S0CS", "customer-success", "Customer Success", ["U0CAROL", "U0FRANK"]),
    ("S0SALESMGMT", "sales-managers", "Sales managers", ["U0BOB"]),
]
