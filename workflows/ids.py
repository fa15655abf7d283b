"""Workflow ids: one open remediation per subject, derived from error type + subject."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@\-]+")


def remediation_id(error_type: str, subject_kind: str, subject_id: str) -> str:
    """``payment_failed:invoice:in_123``. Stable, readable in the Temporal UI, URL-safe parts."""
    return ":".join(_UNSAFE.sub("-", part)[:120] for part in (error_type, subject_kind, subject_id))


def window_workflow_id(window_id: str) -> str:
    """``quiet-window:hooli-billing-migration``: one workflow per quiet window."""
    return f"quiet-window:{window_id}"
