"""Reads the match index needs: banks, entries in id ranges, and the bank change log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderation.kit.time import ensure_utc
from moderation.models.bank import Bank
from moderation.models.bank_change import BankChange
from moderation.models.bank_entry import BankEntry


class EntryRow(NamedTuple):
    id: int
    bank_id: int
    hash_type: str
    value: str
    variant: str
    parent_id: int | None
    disabled_until: datetime | None


class BankRow(NamedTuple):
    id: int
    name: str
    action: str
    thresholds: dict[str, Any]
    match_rotations: bool
    enabled: bool


class ChangeRow(NamedTuple):
    seq: int
    kind: str
    bank_id: int
    first_entry_id: int | None
    last_entry_id: int | None
    details: dict[str, Any]


_ENTRY_COLUMNS = (
    BankEntry.id,
    BankEntry.bank_id,
    BankEntry.hash_type,
    BankEntry.value,
    BankEntry.variant,
    BankEntry.parent_id,
    BankEntry.disabled_until,
)


def _entry(row: Any) -> EntryRow:
    until = row[6]
    if until is not None and not isinstance(until, datetime):
        until = datetime.fromisoformat(str(until))
    return EntryRow(
        int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], ensure_utc(until) if until else None
    )


class MatchRepository:
    def last_change_seq(self, session: Session) -> int:
        return int(session.execute(select(func.coalesce(func.max(BankChange.seq), 0))).scalar_one())

    def changes_after(self, session: Session, seq: int, limit: int = 1000) -> list[ChangeRow]:
        statement = select(BankChange).where(BankChange.seq > seq).order_by(BankChange.seq).limit(limit)
        return [
            ChangeRow(c.seq, c.kind, c.bank_id, c.first_entry_id, c.last_entry_id, c.details or {})
            for c in session.scalars(statement).all()
        ]

    def banks(self, session: Session, ids: Sequence[int] | None = None) -> list[BankRow]:
        statement = select(Bank)
        if ids is not None:
            statement = statement.where(Bank.id.in_(ids))
        return [
            BankRow(b.id, b.name, b.action, dict(b.thresholds), b.match_rotations, b.enabled)
            for b in session.scalars(statement).all()
        ]

    def entries_page(self, session: Session, after: int, limit: int) -> list[EntryRow]:
        """Every entry in id order (keyset): the full load at start-up."""
        statement = select(*_ENTRY_COLUMNS).where(BankEntry.id > after).order_by(BankEntry.id).limit(limit)
        return [_entry(row) for row in session.execute(statement).all()]

    def entries_in_range(
        self, session: Session, bank_id: int, first: int, last: int, after: int, limit: int
    ) -> list[EntryRow]:
        statement = (
            select(*_ENTRY_COLUMNS)
            .where(BankEntry.bank_id == bank_id, BankEntry.id > max(after, first - 1), BankEntry.id <= last)
            .order_by(BankEntry.id)
            .limit(limit)
        )
        return [_entry(row) for row in session.execute(statement).all()]

    def disabled_until(self, session: Session, ids: Sequence[int]) -> dict[int, datetime | None]:
        statement = select(BankEntry.id, BankEntry.disabled_until).where(BankEntry.id.in_(ids))
        return {int(i): (ensure_utc(u) if u else None) for i, u in session.execute(statement).all()}


match_repository = MatchRepository()
