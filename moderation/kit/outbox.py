"""The outbox primitive shared by email and action webhooks: claim with a lease, retry with backoff,
a record of every attempt, exactly one owner per attempt however many workers run.

An outbox is a row table (one row per message, written in the transaction that decides it, UNIQUE
on its key) and an attempt table (one row per try). `OutboxTable` names their columns; `RetryPolicy`
says how long a claim is held and how retries back off. The lifecycle of a row:

    pending --claim--> sending --succeed--> done ("sent", "delivered")
                          |--fail--> pending again at now + backoff, or failed after max_attempts
                          '--lease runs out--> claimable again; the open attempt is closed as abandoned

`claim` is one conditional UPDATE (due and unclaimed, or its lease ran out): of two workers racing
for a row exactly one sees rowcount 1. The caller commits the claim and its attempt row before
talking to the outside world, so a crash leaves evidence and a lease after which the row is retried.
`fail` records the outcome on the row only while the worker still owns that attempt (its lease did
not lapse into another claim); `succeed` marks the row done whoever holds it now, since the
receiver has it (the receiver deduplicates on the key; a resend is harmless), and only once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

PENDING, SENDING, FAILED, ABANDONED = "pending", "sending", "failed", "abandoned"
ABANDONED_NOTE = "the worker's lease ran out before it reported; the receiver may or may not have it"


@dataclass(frozen=True)
class RetryPolicy:
    """How an outbox retries: the first delay after a failed attempt, doubling up to `max_delay`;
    after `max_attempts` failed attempts the row is `failed` (None: retried until it succeeds)."""

    base_delay: timedelta
    max_delay: timedelta
    max_attempts: int | None = None

    def backoff(self, attempt: int) -> timedelta:
        """The delay after failed attempt `attempt` (1-based): base, 2x base, 4x base ... capped."""
        return min(self.base_delay * (2 ** max(attempt - 1, 0)), self.max_delay)


@dataclass(frozen=True)
class OutboxTable:
    """The columns the primitive uses: the row model's lease and done-time columns and done state,
    the attempt model's link to its row, its number column and its outcome words."""

    row: Any
    attempt: Any
    lease_column: str
    done_state: str
    done_at_column: str
    attempt_row_column: str
    attempt_number_column: str
    open_outcome: str | None
    success_outcome: str
    failure_outcome: str


@dataclass(frozen=True)
class Claim:
    """One claimed attempt: the row, the attempt's number (1-based) and row id, and whether an
    earlier attempt was abandoned (the receiver may have that one already)."""

    row_id: int
    attempt: int
    attempt_id: int
    resend: bool


class Outbox:
    """Claims, attempts and outcomes on one outbox table (see the module docstring)."""

    def __init__(self, table: OutboxTable) -> None:
        self.table = table

    def _due(self, now: datetime) -> Any:
        row = self.table.row
        lease = getattr(row, self.table.lease_column)
        return or_(
            and_(row.state == PENDING, row.next_attempt_at <= now),
            and_(row.state == SENDING, lease <= now),
        )

    def due(self, session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(id, attempts so far) of rows to try now, earliest due first."""
        row = self.table.row
        rows = session.execute(
            select(row.id, row.attempts)
            .where(self._due(now))
            .order_by(row.next_attempt_at, row.id)
            .limit(limit)
        ).all()
        return [(int(r[0]), int(r[1])) for r in rows]

    def claim(
        self,
        session: Session,
        row_id: int,
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        seen_attempts: int | None = None,
    ) -> Claim | None:
        """Claim the row's next attempt for `worker` and open its attempt record; None when it is not
        due or another worker got it first (with `seen_attempts`, the count `due` listed: also when
        anyone claimed it since). The caller commits before sending."""
        row, attempt_model, table = self.table.row, self.table.attempt, self.table
        seen = [row.attempts == seen_attempts] if seen_attempts is not None else []
        result = session.execute(
            update(row)
            .where(row.id == row_id, self._due(now), *seen)
            .values(
                {
                    "state": SENDING,
                    "claimed_by": worker,
                    table.lease_column: now + lease,
                    "attempts": row.attempts + 1,
                }
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        number = int(session.scalars(select(row.attempts).where(row.id == row_id)).one())
        link = getattr(attempt_model, table.attempt_row_column)
        open_marker = attempt_model.outcome
        abandoned = session.execute(
            update(attempt_model)
            .where(
                link == row_id,
                getattr(attempt_model, table.attempt_number_column) < number,
                open_marker.is_(None) if table.open_outcome is None else open_marker == table.open_outcome,
            )
            .values(outcome=ABANDONED, finished_at=now, error=ABANDONED_NOTE)
            .execution_options(synchronize_session=False)
        )
        attempt = attempt_model(
            **{
                table.attempt_row_column: row_id,
                table.attempt_number_column: number,
                "worker": worker,
                "started_at": now,
            }
        )
        if table.open_outcome is not None:
            attempt.outcome = table.open_outcome
        session.add(attempt)
        session.flush()
        return Claim(row_id, number, int(attempt.id), abandoned.rowcount > 0)  # type: ignore[attr-defined]

    def _finish_attempt(self, session: Session, claim: Claim, values: dict[str, Any]) -> None:
        attempt_model = self.table.attempt
        session.execute(
            update(attempt_model)
            .where(attempt_model.id == claim.attempt_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def succeed(
        self,
        session: Session,
        claim: Claim,
        *,
        now: datetime,
        note: str | None = None,
        attempt_values: dict[str, Any] | None = None,
        row_values: dict[str, Any] | None = None,
    ) -> bool:
        """The receiver accepted the attempt: it is recorded, and the row becomes done. True when this
        call made it done (False: it already was, by another worker's attempt)."""
        table, row = self.table, self.table.row
        self._finish_attempt(
            session,
            claim,
            {"outcome": table.success_outcome, "finished_at": now, "error": note, **(attempt_values or {})},
        )
        result = session.execute(
            update(row)
            .where(row.id == claim.row_id, row.state != table.done_state)
            .values(
                {
                    "state": table.done_state,
                    table.done_at_column: now,
                    table.lease_column: None,
                    "last_error": None,
                    **(row_values or {}),
                }
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def fail(
        self,
        session: Session,
        claim: Claim,
        *,
        worker: str,
        now: datetime,
        error: str,
        policy: RetryPolicy,
        attempt_values: dict[str, Any] | None = None,
        row_values: dict[str, Any] | None = None,
    ) -> tuple[str | None, datetime | None]:
        """The attempt failed: it is recorded with the error, and the row (while this worker still
        owns this attempt) waits for its next try at now + backoff, or is failed after the last
        attempt. Returns the row's new state and retry time; (None, None) when the worker no longer
        owned the row (its outcome stays on the attempt only)."""
        table, row = self.table, self.table.row
        self._finish_attempt(
            session,
            claim,
            {"outcome": table.failure_outcome, "finished_at": now, "error": error, **(attempt_values or {})},
        )
        retry_at: datetime | None = None
        if policy.max_attempts is not None and claim.attempt >= policy.max_attempts:
            values: dict[str, Any] = {"state": FAILED}
        else:
            retry_at = now + policy.backoff(claim.attempt)
            values = {"state": PENDING, "next_attempt_at": retry_at}
        result = session.execute(
            update(row)
            .where(
                row.id == claim.row_id,
                row.state == SENDING,
                row.claimed_by == worker,
                row.attempts == claim.attempt,
            )
            .values({**values, table.lease_column: None, "last_error": error, **(row_values or {})})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None, None
        return str(values["state"]), retry_at
