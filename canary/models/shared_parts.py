"""One copy per process of the parts of a pinned diagnosis that are the same for many
remediations.

A remediation pins its SOP's buttons, ladder, alerting and resolution rules in its diagnosis
(``Diagnosis``), and a worker keeps one copy of them per remediation it caches: about 12 KB
of Python objects each, the same for every remediation of one SOP and catalog version. Once
a remediation has its diagnosis, those parts are swapped for the process's copy of equal
content (their JSON is the key), so a thousand cached remediations of a handful of SOPs hold
a handful of copies.

Sharing is safe because nothing changes a pinned diagnosis in place: the workflow replaces a
diagnosis whole, and what it shows of one (a Home entry) is built with ``model_copy``.
``tests/unit/test_shared_parts.py`` checks that, and that payloads are unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from canary.converter import dumped
from canary.models.remediation import Diagnosis

#: The diagnosis's fields that follow from its SOP and catalog version (and its branch),
#: never from the remediation's own facts; and the rule trace, the same for remediations
#: whose facts took the same path (a differing one is kept as it is).
SHARED_FIELDS = (
    "steps",
    "automated",
    "actions",
    "escalation",
    "resolution",
    "retry_plan",
    "dunning",
    "alerting",
)
#: Distinct parts kept; the least recently used goes first (a worker sees a few per SOP).
MAX_SHARED = 512

_copies: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
_lock = threading.Lock()  # workflows run their tasks on several threads


def share_constant_parts(diagnosis: Diagnosis) -> None:
    """Swap ``diagnosis``'s SOP-constant parts for the process's copies of equal content."""
    fields = diagnosis.__dict__
    for name in SHARED_FIELDS:
        value = fields[name]
        if value is None or value == []:
            continue
        key = (name, dumped(value))
        with _lock:
            shared = _copies.setdefault(key, value)
            _copies.move_to_end(key)
            if len(_copies) > MAX_SHARED:
                _copies.popitem(last=False)
        if shared is not value:
            fields[name] = shared
