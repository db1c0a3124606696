"""SQL of the exchanges feature: exchanges, their records (entry provenance) and the feedback outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from moderation.models.bank import Bank
from moderation.models.exchange import Exchange
from moderation.models.exchange_feedback import ExchangeFeedback
from moderation.models.exchange_record import ExchangeRecord

# Keys per IN (...) statement when looking records up by the keys of a fetched page.
KEYS_PER_STATEMENT = 500


class ExchangeRepository:
    # --- exchanges --------------------------------------------------------------------------------

    def add(self, session: Session, exchange: Exchange) -> Exchange:
        session.add(exchange)
        session.flush()
        return exchange

    def by_name(self, session: Session, name: str, *, for_update: bool = False) -> Exchange | None:
        query = select(Exchange).where(Exchange.name == name)
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).first()

    def by_id(self, session: Session, exchange_id: int) -> Exchange | None:
        return session.get(Exchange, exchange_id)

    def page(self, session: Session, *, after: int | None, limit: int) -> list[Exchange]:
        query = select(Exchange).order_by(Exchange.id).limit(limit)
        if after is not None:
            query = query.where(Exchange.id > after)
        return list(session.scalars(query))

    def due_names(self, session: Session, *, started_before: datetime) -> list[str]:
        """Enabled exchanges whose last fetch started before `started_before` (or never)."""
        return list(
            session.scalars(
                select(Exchange.name)
                .where(
                    Exchange.enabled.is_(True),
                    or_(
                        Exchange.last_fetch_started_at.is_(None),
                        Exchange.last_fetch_started_at < started_before,
                    ),
                )
                .order_by(Exchange.id)
            )
        )

    def bank_name(self, session: Session, bank_id: int | None) -> str | None:
        if bank_id is None:
            return None
        return session.scalar(select(Bank.name).where(Bank.id == bank_id))

    def claim_fetch(
        self, session: Session, exchange_id: int, *, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Take the fetch lease: losers (a live lease held by another worker) see 0 rows."""
        result = session.execute(
            update(Exchange)
            .where(
                Exchange.id == exchange_id,
                or_(Exchange.fetch_lease_until.is_(None), Exchange.fetch_lease_until < now),
            )
            .values(fetching_by=worker, fetch_lease_until=lease_until, last_fetch_started_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def save_progress(
        self,
        session: Session,
        exchange_id: int,
        *,
        worker: str,
        checkpoint: dict[str, Any] | None,
        lease_until: datetime,
        seen: int,
        added: int,
        removed: int,
    ) -> bool:
        """Store the checkpoint (with the page's entries, same transaction) and renew the lease; False
        when the lease is no longer this worker's."""
        result = session.execute(
            update(Exchange)
            .where(Exchange.id == exchange_id, Exchange.fetching_by == worker)
            .values(
                checkpoint=checkpoint,
                fetch_lease_until=lease_until,
                records_seen=Exchange.records_seen + seen,
                entries_added=Exchange.entries_added + added,
                entries_removed=Exchange.entries_removed + removed,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def release_fetch(
        self, session: Session, exchange_id: int, *, worker: str, now: datetime, error: str | None
    ) -> None:
        values: dict[str, Any] = {"fetching_by": None, "fetch_lease_until": None, "last_error": error}
        if error is None:
            values["last_fetch_at"] = now
        session.execute(
            update(Exchange)
            .where(Exchange.id == exchange_id, Exchange.fetching_by == worker)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    # --- records ----------------------------------------------------------------------------------

    def records_for_keys(
        self, session: Session, exchange_id: int, keys: Sequence[str]
    ) -> list[ExchangeRecord]:
        found: list[ExchangeRecord] = []
        for start in range(0, len(keys), KEYS_PER_STATEMENT):
            chunk = list(keys[start : start + KEYS_PER_STATEMENT])
            found.extend(
                session.scalars(
                    select(ExchangeRecord).where(
                        ExchangeRecord.exchange_id == exchange_id, ExchangeRecord.record_key.in_(chunk)
                    )
                )
            )
        return found

    def insert_records(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert (one executemany per page) of new records."""
        if rows:
            session.execute(insert(ExchangeRecord), list(rows))

    def delete_records(self, session: Session, ids: Sequence[int]) -> None:
        if ids:
            session.execute(
                delete(ExchangeRecord)
                .where(ExchangeRecord.id.in_(list(ids)))
                .execution_options(synchronize_session=False)
            )

    def records_by_entries(
        self, session: Session, entry_ids: Sequence[int]
    ) -> list[tuple[ExchangeRecord, Exchange]]:
        if not entry_ids:
            return []
        rows = session.execute(
            select(ExchangeRecord, Exchange)
            .join(Exchange, Exchange.id == ExchangeRecord.exchange_id)
            .where(ExchangeRecord.entry_id.in_(list(entry_ids)))
            .order_by(ExchangeRecord.id)
        )
        return [(r, e) for r, e in rows]

    def records_by_ids(self, session: Session, ids: Sequence[int]) -> list[tuple[ExchangeRecord, Exchange]]:
        if not ids:
            return []
        rows = session.execute(
            select(ExchangeRecord, Exchange)
            .join(Exchange, Exchange.id == ExchangeRecord.exchange_id)
            .where(ExchangeRecord.id.in_(list(ids)))
        )
        return [(r, e) for r, e in rows]

    def page_records(
        self, session: Session, exchange_id: int, *, after: int | None, limit: int
    ) -> list[ExchangeRecord]:
        query = (
            select(ExchangeRecord)
            .where(ExchangeRecord.exchange_id == exchange_id)
            .order_by(ExchangeRecord.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ExchangeRecord.id > after)
        return list(session.scalars(query))

    def record_totals(self, session: Session, exchange_id: int) -> dict[str, int]:
        row = session.execute(
            select(
                func.count(ExchangeRecord.id),
                func.coalesce(func.sum(ExchangeRecord.reviewed), 0),
                func.coalesce(func.sum(ExchangeRecord.confirmations), 0),
                func.coalesce(func.sum(ExchangeRecord.overturns), 0),
            ).where(ExchangeRecord.exchange_id == exchange_id)
        ).one()
        return {"records": row[0], "reviewed": row[1], "confirmations": row[2], "overturns": row[3]}

    # --- feedback outbox --------------------------------------------------------------------------

    def feedback_exists(self, session: Session, dedup_key: str) -> bool:
        return (
            session.scalar(select(ExchangeFeedback.id).where(ExchangeFeedback.dedup_key == dedup_key))
            is not None
        )

    def add_feedback(self, session: Session, row: ExchangeFeedback) -> ExchangeFeedback:
        session.add(row)
        session.flush()
        return row

    def due_feedback(self, session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(id, attempts) of rows to send: pending and due, or `sending` with a lapsed lease."""
        rows = session.execute(
            select(ExchangeFeedback.id, ExchangeFeedback.attempts)
            .where(
                or_(
                    (ExchangeFeedback.state == "pending") & (ExchangeFeedback.next_attempt_at <= now),
                    (ExchangeFeedback.state == "sending") & (ExchangeFeedback.lease_until < now),
                )
            )
            .order_by(ExchangeFeedback.id)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]

    def claim_feedback(
        self,
        session: Session,
        feedback_id: int,
        *,
        attempts: int,
        now: datetime,
        lease_until: datetime,
        worker: str,
    ) -> bool:
        result = session.execute(
            update(ExchangeFeedback)
            .where(
                ExchangeFeedback.id == feedback_id,
                ExchangeFeedback.attempts == attempts,
                ExchangeFeedback.state.in_(("pending", "sending")),
            )
            .values(state="sending", attempts=attempts + 1, lease_until=lease_until, claimed_by=worker)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def finish_feedback(
        self, session: Session, feedback_id: int, *, attempt: int, worker: str, values: dict[str, Any]
    ) -> bool:
        result = session.execute(
            update(ExchangeFeedback)
            .where(
                ExchangeFeedback.id == feedback_id,
                ExchangeFeedback.attempts == attempt,
                ExchangeFeedback.claimed_by == worker,
                ExchangeFeedback.state == "sending",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def feedback(self, session: Session, feedback_id: int) -> ExchangeFeedback | None:
        return session.get(ExchangeFeedback, feedback_id)

    def page_feedback(
        self, session: Session, exchange_id: int, *, after: int | None, limit: int
    ) -> list[ExchangeFeedback]:
        query = (
            select(ExchangeFeedback)
            .where(ExchangeFeedback.exchange_id == exchange_id)
            .order_by(ExchangeFeedback.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ExchangeFeedback.id > after)
        return list(session.scalars(query))

    def feedback_counts(self, session: Session, exchange_id: int) -> dict[str, int]:
        rows = session.execute(
            select(ExchangeFeedback.state, func.count(ExchangeFeedback.id))
            .where(ExchangeFeedback.exchange_id == exchange_id)
            .group_by(ExchangeFeedback.state)
        )
        return {str(state): int(count) for state, count in rows}


exchange_repository = ExchangeRepository()
