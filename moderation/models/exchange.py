"""Hash exchanges: an external list (NCMEC, StopNCII, TCAP, ThreatExchange, a file) that fills a bank."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class Exchange(TimestampMixin, Base):
    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # ncmec | stopncii | tat | threatexchange | file
    type: Mapped[str] = mapped_column(String(20))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    # Non-secret settings of the exchange (environment, privacy group, file name, base URL ...).
    # Credentials never live here: they are read from MODERATION_EXCHANGE_CREDENTIALS_FILE by name.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The library's signal type names taken (pdq, video_md5).
    signal_types: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    feedback_enabled: Mapped[bool] = mapped_column(default=False)
    # Entries are held in the (review-action) bank until this many reviewers' block verdicts
    # confirm them, then promoted to `promote_bank_id`; 0 = no holding.
    confirmations_required: Mapped[int] = mapped_column(Integer, default=0)
    promote_bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), default=None)
    # The library's checkpoint dataclass as JSON; written in the transaction of the entries it covers.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # A fetch holds the exchange by a lease (conditional UPDATE), renewed with each applied page.
    fetching_by: Mapped[str | None] = mapped_column(String(200), default=None)
    fetch_lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_fetch_started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_fetch_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Totals over every fetch: records seen, bank entries added and removed.
    records_seen: Mapped[int] = mapped_column(Integer, default=0)
    entries_added: Mapped[int] = mapped_column(Integer, default=0)
    entries_removed: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
