"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

Canary's adapters and SOPs pass ids between Stripe metadata, Slack buttons and SOQL, sometimes
in the 15-character form people copy from the Salesforce UI. The sandbox accepts both forms
everywhere, exactly like Salesforce, and always answers with the 18-character form.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")

# The "instance" part of every id the sandbox mints; only the prefix and counter vary, so a
# reset org hands out the same ids again (handy in docs and recorded histories).
_POD = "Hx"


def to18(record_id: str) -> str:
    """The 18-character id: three checksum characters encode where the uppercase letters are."""
    base = record_id[:15]
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(base[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return base + suffix


def looks_like_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_SHAPE.match(value))


def normalize(record_id: str) -> str:
    """18-character form of a well-formed id; anything else is returned unchanged."""
    return to18(record_id) if looks_like_id(record_id) else record_id


def make_id(prefix: str, counter: int) -> str:
    """A deterministic 18-character id such as ``001Hx0000000001IAA``."""
    return to18(f"{prefix}{_POD}{counter:010d}")
