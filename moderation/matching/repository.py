"""Reads the match index needs: banks, entries in id ranges, and the bank change log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from moderation.kit.time import ensure_utc
from moderation.models.bank import Bank
from moderation.models.bank_change import BankChange
from moderation.models.bank_counter import BankCounter
from moderation.models.bank_entry import BankEntry

# Bank counter row holding the highest change sequence number pruned from the log.
PRUNED_COUNTER = "pruned"


class BankRow(NamedTuple):
    id: int
    name: str
    action: str
    thresholds: dict[str, Any]
    match_rotations: bool
    enabled: bool
    video_query_match_pct: float = 80.0
    video_compared_match_pct: float = 0.0


class EntryColumns(NamedTuple):
    """Entries as parallel lists (same order, ids ascending)."""

    ids: list[int]
    bank_ids: list[int]
    hash_types: list[str]
    values: list[str]
    variants: list[str]
    parent_ids: list[int | None]
    disabled_until: list[datetime | None]


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


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return ensure_utc(value)


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
            BankRow(
                b.id,
                b.name,
                b.action,
                dict(b.thresholds),
                b.match_rotations,
                b.enabled,
                float(b.video_query_match_pct),
                float(b.video_compared_match_pct),
            )
            for b in session.scalars(statement).all()
        ]

    def entry_columns(
        self,
        session: Session,
        *,
        after: int,
        limit: int,
        bank_id: int | None = None,
        last: int | None = None,
    ) -> EntryColumns:
        """A keyset page of entries in id order, column by column (cheap to build for 100,000 rows):
        every entry (the full load) or, with `bank_id` and `last`, one bank's ids in (after, last]."""
        statement = select(*_ENTRY_COLUMNS).where(BankEntry.id > after)
        if bank_id is not None:
            statement = statement.where(BankEntry.bank_id == bank_id)
        if last is not None:
            statement = statement.where(BankEntry.id <= last)
        rows = session.execute(statement.order_by(BankEntry.id).limit(limit)).all()
        if not rows:
            return EntryColumns([], [], [], [], [], [], [])
        ids, bank_ids, types, values, variants, parents, disabled = (list(c) for c in zip(*rows, strict=True))
        return EntryColumns(
            ids,
            bank_ids,
            types,
            values,
            variants,
            parents,
            [_utc(u) if u is not None else None for u in disabled]
            if disabled.count(None) != len(disabled)
            else disabled,
        )

    def pruned_through(self, session: Session) -> int:
        """The highest change sequence number pruned from the log (0 if none): a process whose state is
        older than this has missed changes and must reload."""
        value = session.execute(
            select(BankCounter.value).where(BankCounter.name == PRUNED_COUNTER)
        ).scalar_one_or_none()
        return int(value or 0)

    def prune_changes(self, session: Session, *, through_seq: int, occurred_before: datetime) -> int:
        """Delete change rows with seq <= `through_seq` that occurred before `occurred_before`, and raise
        the pruned watermark to the highest seq deleted. Returns the number of rows deleted."""
        highest = session.execute(
            select(func.max(BankChange.seq)).where(
                BankChange.seq <= through_seq, BankChange.occurred_at < occurred_before
            )
        ).scalar_one_or_none()
        if highest is None:
            return 0
        deleted: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            delete(BankChange)
            .where(BankChange.seq <= int(highest))
            .execution_options(synchronize_session=False)
        )
        updated: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(BankCounter)
            .where(BankCounter.name == PRUNED_COUNTER, BankCounter.value < int(highest))
            .values(value=int(highest))
        )
        if not updated.rowcount and self.pruned_through(session) == 0:
            session.add(BankCounter(name=PRUNED_COUNTER, value=int(highest)))
            session.flush()
        return int(deleted.rowcount or 0)

    def disabled_until(self, session: Session, ids: Sequence[int]) -> dict[int, datetime | None]:
        statement = select(BankEntry.id, BankEntry.disabled_until).where(BankEntry.id.in_(ids))
        return {int(i): (ensure_utc(u) if u else None) for i, u in session.execute(statement).all()}


match_repository = MatchRepository()
