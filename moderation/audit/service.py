"""Writing and verifying the audit log.

`audit.record(...)` is called by every service that changes state, inside the caller's transaction,
so the event commits or rolls back with the change it records. Each event stores the SHA-256 of its
canonical content including the previous event's hash, and the HMAC of that hash under the audit key
(settings), which the database does not hold. `audit.verify()` recomputes the chain and the MACs and,
given an exported checkpoint, proves that no event up to it was removed (threat model:
docs/operations.md, "Audit log").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.checkpoints import Checkpoint
from moderation.audit.repository import audit_repository
from moderation.config import get_settings
from moderation.kit.paging import ID_DESC, Page, decode_id_cursor, page_of
from moderation.kit.request_context import current_request_id
from moderation.kit.time import utc_now
from moderation.models.audit_event import AuditEvent

GENESIS_HASH = "0" * 64


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def canonical_hash(
    *,
    id: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    policy_version: str | None,
    details: dict[str, Any],
    prev_hash: str,
    request_id: str | None = None,
) -> str:
    """SHA-256 of the event's content in one canonical JSON form (sorted keys, UTC microseconds).
    `request_id` is hashed only when present, so events written before it existed verify unchanged."""
    content = {
        "id": id,
        "occurred_at": occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "policy_version": policy_version,
        "details": details,
        "prev_hash": prev_hash,
    }
    if request_id is not None:
        content["request_id"] = request_id
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _event_hash(event: AuditEvent) -> str:
    return canonical_hash(
        id=event.id,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        policy_version=event.policy_version,
        details=event.details,
        prev_hash=event.prev_hash,
        request_id=event.request_id,
    )


def event_mac(key: bytes, event_hash: str) -> str:
    """The keyed seal of one event: HMAC-SHA256 of its chained hash."""
    return hmac.new(key, event_hash.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_broken_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None
    checkpoint_id: int | None = None


class AuditService:
    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str | int,
        details: dict[str, Any] | None = None,
        policy_version: str | None = None,
    ) -> AuditEvent:
        """Append one event to the chain in the caller's transaction (never commits)."""
        audit_repository.lock_chain(session)
        last = audit_repository.last(session)
        prev_hash = last.hash if last else GENESIS_HASH
        event = AuditEvent(
            id=(last.id + 1) if last else 1,
            occurred_at=utc_now(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            policy_version=policy_version,
            details=_jsonable(details or {}),
            prev_hash=prev_hash,
            request_id=current_request_id(),
        )
        event.hash = _event_hash(event)
        event.mac = event_mac(get_settings().audit_mac_key, event.hash)
        return audit_repository.insert(session, event)

    def verify(
        self,
        session: Session,
        *,
        key: bytes | None = None,
        unkeyed_events: int | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> VerifyResult:
        """Walk the whole chain in id order. The first event whose content, link, position or MAC
        does not check out is reported: an edited, deleted, inserted, reordered or re-sealed event
        breaks it. With a `checkpoint` (exported earlier, kept outside the database) the log must
        still hold that event with that hash, so removing events from the tail is detected too.
        `key` and `unkeyed_events` default to the settings (MODERATION_AUDIT_KEY ...)."""
        settings = get_settings()
        key = settings.audit_mac_key if key is None else key
        unkeyed = settings.audit_unkeyed_events if unkeyed_events is None else unkeyed_events
        checkpoint_id = checkpoint.id if checkpoint else None
        expected_prev = GENESIS_HASH
        expected_id = 1
        count = 0
        for event in audit_repository.iter_all(session):
            broken = self._broken(event, expected_id, expected_prev, key, unkeyed)
            at_checkpoint = checkpoint is not None and event.id == checkpoint.id
            if broken is None and at_checkpoint and not hmac.compare_digest(event.hash, checkpoint.hash):  # type: ignore[union-attr]
                broken = "differs from the exported checkpoint (the log was rewritten since)"
            if broken is not None:
                return VerifyResult(False, count, event.id, broken, checkpoint_id=checkpoint_id)
            expected_prev = event.hash
            expected_id += 1
            count += 1
        if checkpoint is not None and count < checkpoint.id:
            return VerifyResult(
                False,
                count,
                count + 1,
                f"the log ends at event {count} but the checkpoint names event {checkpoint.id}: "
                "events were removed from the tail",
                checkpoint_id=checkpoint_id,
            )
        return VerifyResult(
            True, count, head_hash=expected_prev if count else None, checkpoint_id=checkpoint_id
        )

    @staticmethod
    def _broken(
        event: AuditEvent, expected_id: int, expected_prev: str, key: bytes, unkeyed: int
    ) -> str | None:
        if event.id != expected_id:
            return f"event {expected_id} is missing (next present is {event.id})"
        if event.prev_hash != expected_prev:
            return "prev_hash does not match the previous event"
        if _event_hash(event) != event.hash:
            return "content does not match its hash (edited)"
        if event.mac is None:
            if event.id > unkeyed:
                return "event carries no MAC (written without the audit key, or stripped)"
        elif not hmac.compare_digest(event.mac, event_mac(key, event.hash)):
            return "MAC does not match (re-sealed, or verified with the wrong audit key)"
        return None

    def head(self, session: Session) -> AuditEvent | None:
        """The newest event (the one a checkpoint records)."""
        return audit_repository.last(session)

    def page(self, session: Session, **filters: Any) -> list[AuditEvent]:
        """Events newest first with optional filters (see `AuditRepository.page`)."""
        return audit_repository.page(session, **filters)

    def events(
        self,
        session: Session,
        *,
        cursor: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
        **filters: Any,
    ) -> Page[AuditEvent]:
        """A page of events newest first with optional filters (see `AuditRepository.page`); pass
        `next_cursor` back as `cursor` for the next page (`before_id`: the deprecated API alias)."""
        if cursor:
            before_id = decode_id_cursor(cursor, ID_DESC)
        rows = audit_repository.page(session, before_id=before_id, limit=limit + 1, **filters)
        return page_of(rows, limit, lambda e: (e.id,))

    def for_subject(self, session: Session, subject_type: str, subject_id: str | int) -> list[AuditEvent]:
        """A subject's timeline, oldest first."""
        events = audit_repository.page(
            session, subject_type=subject_type, subject_id=str(subject_id), limit=1000
        )
        return list(reversed(events))


audit = AuditService()
