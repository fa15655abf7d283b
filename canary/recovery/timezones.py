"""The payer's timezone: an IANA name that zoneinfo knows, else UTC.

Pure apart from zoneinfo's own reading of its database, so workflow code may use it, imported
passed through the workflow sandbox as ``workflows/`` imports ``canary`` (inside the sandbox a
ZoneInfo is a restricted proxy that datetime refuses). Where the system has no timezone
database (slim containers), zoneinfo reads the ``tzdata`` package Canary installs.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: What an IANA name looks like ("America/New_York", "UTC", "Etc/GMT+5"). It keeps out paths
#: and the database's lowercase helper files ("localtime", "posixrules", "right/…"), which
#: name no place and differ from one machine to the next.
_IANA_NAME = re.compile(r"[A-Z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")

#: Names that always mean UTC: a time in one of them needs no local time beside it.
UTC_NAMES = frozenset(
    "UTC Etc/UTC UCT Etc/UCT Universal Etc/Universal Zulu Etc/Zulu GMT Etc/GMT GMT0 Etc/GMT0 "
    "GMT+0 Etc/GMT+0 GMT-0 Etc/GMT-0 Greenwich Etc/Greenwich".split()
)


def known_timezone(name: object) -> str | None:
    """``name`` when it is an IANA timezone zoneinfo knows, else None."""
    if not isinstance(name, str) or len(name) > 64 or not _IANA_NAME.fullmatch(name):
        return None
    if name == "Factory":  # the database's "-00" placeholder, not a place
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def zone_of(name: str | None) -> tzinfo:
    """The zone ``name`` names; UTC when it is None or not a timezone zoneinfo knows."""
    known = known_timezone(name)
    if known is None or known in UTC_NAMES:
        return UTC
    return ZoneInfo(known)
