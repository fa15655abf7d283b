"""When the daily digest is due (pure; its message is built in canary.blocks.digest)."""

from __future__ import annotations

from datetime import datetime, time, timedelta


def next_flush(now: datetime, hour_utc: int) -> datetime:
    """The next ``hour_utc``:00 strictly after ``now`` (``now`` is timezone-aware, UTC)."""
    today = datetime.combine(now.date(), time(hour_utc), tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)
