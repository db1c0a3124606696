"""The bank change log: every change that affects matching, in commit order, for incremental refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base

SeqType = BigInteger().with_variant(Integer(), "sqlite")


class BankChange(Base):
    __tablename__ = "bank_changes"

    # From the `change` counter row, whose row lock is held until commit: sequence order is commit order,
    # so a reader that has applied everything up to N never sees a later commit with a smaller number.
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    # bank_upsert | entries_added | entries_updated | entries_removed
    kind: Mapped[str] = mapped_column(String(30))
    bank_id: Mapped[int]
    first_entry_id: Mapped[int | None] = mapped_column(SeqType, default=None)
    last_entry_id: Mapped[int | None] = mapped_column(SeqType, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
