"""Outbox of feedback to exchanges: one row per (exchange record, reviewed check), sent by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class ExchangeFeedback(TimestampMixin, Base):
    __tablename__ = "exchange_feedback"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        Index("ix_exchange_feedback_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    # "<exchange id>/<record key>/<hash type>:<value>/<origin>": a verdict is enqueued once.
    dedup_key: Mapped[str] = mapped_column(String(400))
    record_key: Mapped[str] = mapped_column(String(200))
    signal_type: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(64))
    # positive (confirmed: StopNCII Blocked, NCMEC upvote, ThreatExchange HELPFUL) | negative
    opinion: Mapped[str] = mapped_column(String(10))
    # Exchange-specific data the call needs (NCMEC member and entry ids, ThreatExchange descriptor ids).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    origin: Mapped[str] = mapped_column(String(100))
    # pending | sending | sent | failed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(200))
