"""Provenance of a bank entry filled from an exchange: which exchange, its record key, opinions, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.bank_entry import EntryIDType
from moderation.models.base import Base


class ExchangeRecord(Base):
    __tablename__ = "exchange_records"
    __table_args__ = (
        UniqueConstraint("exchange_id", "record_key", "hash_type", "value"),
        Index("ix_exchange_records_entry_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    # The exchange's own key of the record: NCMEC "<member id>-<entry id>", else "<signal type>:<value>".
    record_key: Mapped[str] = mapped_column(String(200))
    # The library's signal type (pdq, video_md5) and our bank entry's hash type and value.
    signal_type: Mapped[str] = mapped_column(String(30))
    hash_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[int] = mapped_column(EntryIDType)
    # The exchange's opinions on the record: [{"category", "tags", ...}] and its own summary line.
    opinions: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[str | None] = mapped_column(String(500), default=None)
    first_fetched_at: Mapped[datetime]
    fetched_at: Mapped[datetime]
    # Matches of the entry that reached a reviewer's verdict: block (confirmations) or allow (overturns).
    reviewed: Mapped[int] = mapped_column(Integer, default=0)
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    overturns: Mapped[int] = mapped_column(Integer, default=0)
    promoted: Mapped[bool] = mapped_column(default=False)
