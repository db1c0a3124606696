"""Feedback to exchanges and confirmations: what reviewers decided about matches of exchange entries.

Lifecycle: a reviewer's verdict on a check that matched exchange entries (`on_verdict`, called by the
review queue in the verdict's transaction) counts a confirmation (block) or an overturn (allow) on each
entry's record, promotes an entry held for review once it has the exchange's required confirmations,
and, where the operator enabled feedback for that exchange, writes one outbox row per (record, check):
a UNIQUE dedup key makes a verdict enqueue once. The `exchanges.deliver_feedback` job claims due rows
with a conditional UPDATE and a lease, calls the library's client outside any transaction, and records
`sent`, a retry with exponential backoff, or `failed` after the last attempt. A row whose worker died
mid-send is claimable again when its lease lapses; each exchange's feedback call sets this platform's
opinion on the hash (StopNCII Blocked/NotBlocked, an NCMEC vote, a ThreatExchange reaction), so the
rare resend after such a crash leaves the same state at the exchange.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.errors import BankEntryNotFound
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.exceptions import ModerationError, ValidationFailed
from moderation.exchanges import clients
from moderation.exchanges.errors import ExchangeNotFound, FeedbackNotSupported
from moderation.exchanges.repository import exchange_repository as repo
from moderation.exchanges.service import exchanges
from moderation.kit.time import utc_now
from moderation.models.exchange import Exchange
from moderation.models.exchange_feedback import ExchangeFeedback
from moderation.models.exchange_record import ExchangeRecord

UnitOfWork = Callable[[], contextlib.AbstractContextManager[Session]]
Sender = Callable[[clients.ExchangeSpec, dict[str, str], "ClaimedFeedback"], None]
FEEDBACK_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class ClaimedFeedback:
    id: int
    attempt: int
    exchange: str
    signal_type: str
    value: str
    positive: bool
    payload: dict[str, Any]


def send(spec: clients.ExchangeSpec, credentials: dict[str, str], item: ClaimedFeedback) -> None:
    """One feedback call through the library's client for the exchange's type."""
    api, _ = clients.build(spec, credentials)
    if spec.type == "stopncii":
        clients.stopncii_feedback(api, signal_type=item.signal_type, value=item.value, positive=item.positive)
    elif spec.type == "ncmec":
        clients.ncmec_feedback(
            api,
            member_id=int(item.payload["member_id"]),
            entry_id=str(item.payload["entry_id"]),
            signal_type=item.signal_type,
            positive=item.positive,
        )
    elif spec.type == "threatexchange":
        clients.threatexchange_feedback(
            api,
            descriptor_ids=[int(d) for d in item.payload.get("descriptor_ids", [])],
            positive=item.positive,
        )
    else:
        raise FeedbackNotSupported(f"a {spec.type} exchange takes no feedback")


class ExchangeFeedbackService:
    """Confirmations, overturns, promotions and the feedback outbox (see the module docstring)."""

    def on_verdict(
        self, session: Session, *, check_id: int, entry_ids: Sequence[int], verdict: str, actor: str
    ) -> int:
        """Count a reviewer's final verdict (`block` confirms, `allow` overturns) on every exchange entry
        the check matched, and enqueue feedback where enabled; returns the number of rows enqueued."""
        if verdict not in ("allow", "block"):
            return 0
        enqueued = 0
        for record, exchange in repo.records_by_entries(session, sorted(set(entry_ids))):
            record.reviewed += 1
            if verdict == "block":
                record.confirmations += 1
                self._maybe_promote(session, exchange, record, actor)
            else:
                record.overturns += 1
            if exchange.feedback_enabled and exchange.type in clients.FEEDBACK_TYPES:
                enqueued += self._enqueue(
                    session,
                    exchange,
                    record,
                    positive=verdict == "block",
                    origin=f"check-{check_id}",
                    actor=actor,
                )
        session.flush()
        return enqueued

    def overturn(
        self, session: Session, name: str, record_id: int, *, reason: str, actor: str
    ) -> ExchangeRecord:
        """An operator's false positive: disable the record's bank entry (it stops matching at the next
        index refresh), count an overturn and, where enabled, send negative feedback (StopNCII
        `NotBlocked`). 404 `exchange_record_not_found` for a record of another exchange."""
        if not reason.strip() or len(reason) > 500:
            raise ValidationFailed("a reason of 1-500 characters is required", code="invalid_reason")
        exchange = exchanges.get(session, name)
        record = next((r for r, e in repo.records_by_ids(session, [record_id]) if e.id == exchange.id), None)
        if record is None:
            raise ExchangeNotFound(
                f"exchange '{name}' has no record {record_id}", code="exchange_record_not_found"
            )
        with contextlib.suppress(BankEntryNotFound):
            banks.disable_entry(session, record.entry_id, actor=actor)
        record.overturns += 1
        if exchange.feedback_enabled and exchange.type in clients.FEEDBACK_TYPES:
            self._enqueue(session, exchange, record, positive=False, origin="operator-overturn", actor=actor)
        audit.record(
            session,
            actor=actor,
            action="exchange.overturn",
            subject_type="exchange",
            subject_id=exchange.name,
            details={"record_id": record.id, "entry_id": record.entry_id, "reason": reason},
        )
        session.flush()
        return record

    def _maybe_promote(
        self, session: Session, exchange: Exchange, record: ExchangeRecord, actor: str
    ) -> None:
        needed = exchange.confirmations_required
        if not needed or record.promoted or record.confirmations < needed or exchange.promote_bank_id is None:
            return
        target = exchanges.promote_bank_name(session, exchange)
        assert target is not None
        held = record.entry_id
        new_entry = banks.add_hashes(
            session,
            target,
            [(record.hash_type, record.value)],
            source=f"import:exchange:{exchange.name}",
            metadata={"exchange": exchange.name, "promoted_from": held},
            actor=actor,
        )[0]
        with contextlib.suppress(BankEntryNotFound):
            banks.delete_entry(session, held, actor=actor)
        record.entry_id, record.promoted = new_entry.id, True
        audit.record(
            session,
            actor=actor,
            action="exchange.promote",
            subject_type="exchange",
            subject_id=exchange.name,
            details={
                "record_id": record.id,
                "from_entry": held,
                "to_entry": new_entry.id,
                "bank": target,
                "confirmations": record.confirmations,
            },
        )

    def _enqueue(
        self,
        session: Session,
        exchange: Exchange,
        record: ExchangeRecord,
        *,
        positive: bool,
        origin: str,
        actor: str,
    ) -> int:
        key = f"{exchange.id}/{record.record_key}/{record.hash_type}:{record.value}/{origin}"[:400]
        if repo.feedback_exists(session, key):
            return 0
        payload: dict[str, Any] = {}
        if exchange.type == "ncmec":
            member, _, entry = record.record_key.partition("-")
            payload = {"member_id": int(member), "entry_id": entry}
        elif exchange.type == "threatexchange":
            payload = {
                "descriptor_ids": sorted(
                    {int(o["descriptor_id"]) for o in record.opinions if (o.get("descriptor_id") or 0) > 0}
                )
            }
        row = repo.add_feedback(
            session,
            ExchangeFeedback(
                exchange_id=exchange.id,
                dedup_key=key,
                record_key=record.record_key,
                signal_type=record.signal_type,
                value=record.value,
                opinion="positive" if positive else "negative",
                payload=payload,
                origin=origin,
                next_attempt_at=utc_now(),
                created_by=actor,
            ),
        )
        audit.record(
            session,
            actor=actor,
            action="exchange.feedback_enqueue",
            subject_type="exchange",
            subject_id=exchange.name,
            details={
                "feedback_id": row.id,
                "record_key": record.record_key,
                "opinion": row.opinion,
                "origin": origin,
            },
        )
        return 1

    # --- delivery ---------------------------------------------------------------------------------

    def deliver(
        self,
        unit_of_work: UnitOfWork,
        *,
        settings: Settings,
        worker: str,
        actor: str,
        limit: int = 200,
        sender: Sender = send,
    ) -> dict[str, int]:
        """Send due feedback; returns counts of sent, retried and failed rows."""
        counts = {"sent": 0, "retried": 0, "failed": 0}
        with unit_of_work() as session:
            due = repo.due_feedback(session, utc_now(), limit)
        for feedback_id, attempts in due:
            with unit_of_work() as session:
                now = utc_now()
                if not repo.claim_feedback(
                    session,
                    feedback_id,
                    attempts=attempts,
                    now=now,
                    lease_until=now + FEEDBACK_LEASE,
                    worker=worker,
                ):
                    continue
                row = repo.feedback(session, feedback_id)
                assert row is not None
                exchange = repo.by_id(session, row.exchange_id)
                assert exchange is not None
                spec = exchanges.spec(exchange)
                enabled = exchange.feedback_enabled
                item = ClaimedFeedback(
                    row.id,
                    attempts + 1,
                    exchange.name,
                    row.signal_type,
                    row.value,
                    row.opinion == "positive",
                    dict(row.payload),
                )
            error: str | None = None
            try:
                if not enabled:
                    raise FeedbackNotSupported("feedback is switched off for this exchange")
                sender(spec, clients.load_credentials(settings.exchange_credentials_file, spec), item)
            except ModerationError as exc:
                error = f"{exc.code}: {exc.message}"
            except Exception as exc:  # noqa: BLE001 - a failed send is recorded and retried, never raised
                error = clients.describe_error(exc)
            with unit_of_work() as session:
                outcome = self._record(
                    session, item, worker=worker, error=error, settings=settings, actor=actor
                )
            if outcome:
                counts[outcome] += 1
        return counts

    def _record(
        self,
        session: Session,
        item: ClaimedFeedback,
        *,
        worker: str,
        error: str | None,
        settings: Settings,
        actor: str,
    ) -> str | None:
        now = utc_now()
        if error is None:
            values: dict[str, Any] = {
                "state": "sent",
                "sent_at": now,
                "lease_until": None,
                "last_error": None,
            }
            outcome = "sent"
        elif item.attempt >= settings.exchange_feedback_max_attempts:
            values = {"state": "failed", "lease_until": None, "last_error": error}
            outcome = "failed"
        else:
            delay = min(
                settings.exchange_feedback_retry_base_seconds * 2 ** (item.attempt - 1),
                settings.exchange_feedback_retry_max_seconds,
            )
            values = {
                "state": "pending",
                "lease_until": None,
                "last_error": error,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
            outcome = "retried"
        if not repo.finish_feedback(session, item.id, attempt=item.attempt, worker=worker, values=values):
            return None  # the lease lapsed and another worker owns the row now
        if outcome != "retried":
            audit.record(
                session,
                actor=actor,
                action=f"exchange.feedback_{outcome}",
                subject_type="exchange",
                subject_id=item.exchange,
                details={"feedback_id": item.id, "attempt": item.attempt, "error": error},
            )
        return outcome


exchange_feedback = ExchangeFeedbackService()
