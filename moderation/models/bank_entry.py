"""Bank entries: one hash value each; entries added by image carry extra rows (variants) under a parent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base

# Integer on SQLite so the id is the rowid (no second B-tree to maintain on bulk imports).
EntryIDType = BigInteger().with_variant(Integer(), "sqlite")


def value_prefix(value: str) -> int:
    """The first 8 bytes (16 hex digits) of a canonical hex hash value as a signed big-endian 64-bit
    integer: the indexed key for lookups by value (every hash type is at least 64 bits long)."""
    return int.from_bytes(bytes.fromhex(value[:16]), "big", signed=True)


def _default_prefix(context: Any) -> int:
    return value_prefix(context.get_current_parameters()["value"])


class BankEntry(Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        Index("ix_bank_entries_bank_id_id", "bank_id", "id"),
        # An integer key instead of the 64-character text: an import's random-order inserts into this
        # index are what bound its speed. Lookups by value filter on `value_prefix` and `value`.
        Index("ix_bank_entries_bank_id_hash_type_value_prefix", "bank_id", "hash_type", "value_prefix"),
        Index(
            "ix_bank_entries_parent_id",
            "parent_id",
            postgresql_where=text("parent_id IS NOT NULL"),
            sqlite_where=text("parent_id IS NOT NULL"),
        ),
    )

    # Allocated by the banks repository from the `entry` counter, contiguous per transaction, so a
    # change log row can name the entries it added as an id range.
    id: Mapped[int] = mapped_column(EntryIDType, primary_key=True, autoincrement=False)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    hash_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    # `value_prefix(value)`; bulk inserts compute it themselves, ORM inserts through the default.
    value_prefix: Mapped[int] = mapped_column(BigInteger, default=_default_prefix)
    # "plain" for the hash itself; robust representations: "trimmed", "crop_left_3", "rotate90", ...
    variant: Mapped[str] = mapped_column(String(32), default="plain")
    # The entry this row is a variant / companion hash of (same image); None for top-level entries.
    parent_id: Mapped[int | None] = mapped_column(EntryIDType, default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    note: Mapped[str | None] = mapped_column(String(2000), default=None)
    # upload | import:<name> | takedown | review
    source: Mapped[str] = mapped_column(String(120))
    disabled_until: Mapped[datetime | None] = mapped_column(default=None)
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
