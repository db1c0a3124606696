"""UTC clock for the whole service; tests freeze or move it with `frozen_clock`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset: timedelta = timedelta(0)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC. Every timestamp the service stores comes from here."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def ensure_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite drops tzinfo); aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def set_clock(at: datetime | None = None, *, offset: timedelta | None = None) -> None:
    """Freeze the clock at `at`, or shift the real clock by `offset`; no arguments resets it."""
    global _frozen, _offset
    _frozen = ensure_utc(at) if at is not None else None
    _offset = offset or timedelta(0)


@contextlib.contextmanager
def frozen_clock(at: datetime) -> Iterator[None]:
    """Freeze `utc_now()` inside the block (tests)."""
    previous, previous_offset = _frozen, _offset
    set_clock(at)
    try:
        yield
    finally:
        globals()["_frozen"] = previous
        globals()["_offset"] = previous_offset
