"""Hash banks: a named set of known hashes with the action a match triggers and per-type thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, String, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class Bank(TimestampMixin, Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # block | review | allow (an allow bank suppresses the other banks' matches for the same content)
    action: Mapped[str] = mapped_column(String(10))
    # Hash type name -> maximum distance that still matches, e.g. {"pdq": 31, "phash": 10}.
    thresholds: Mapped[dict[str, Any]]
    match_rotations: Mapped[bool] = mapped_column(default=False)
    # vPDQ: percentage of a query video's usable frames that must match an entry's frames (Q), and of the
    # entry's usable frames that must be matched (C). 80 / 0 let a clip of a banked video match.
    video_query_match_pct: Mapped[float] = mapped_column(Float, default=80.0, server_default=text("80.0"))
    video_compared_match_pct: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0.0"))
    enabled: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
