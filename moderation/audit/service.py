"""Writing and verifying the audit log.

`audit.record(...)` is called by every service that changes state, inside the caller's transaction,
so the event commits or rolls back with the change it records. Each event stores the SHA-256 of its
canonical content including the previous event's hash; `audit.verify()` recomputes the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.repository import audit_repository
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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_broken_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None


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
        return audit_repository.insert(session, event)

    def verify(self, session: Session) -> VerifyResult:
        """Walk the whole chain in id order. The first event whose content, link or position does
        not check out is reported; an edited, deleted, inserted or reordered event breaks it."""
        expected_prev = GENESIS_HASH
        expected_id = 1
        count = 0
        for event in audit_repository.iter_all(session):
            if event.id != expected_id:
                return VerifyResult(
                    False, count, event.id, f"event {expected_id} is missing (next present is {event.id})"
                )
            if event.prev_hash != expected_prev:
                return VerifyResult(False, count, event.id, "prev_hash does not match the previous event")
            if _event_hash(event) != event.hash:
                return VerifyResult(False, count, event.id, "content does not match its hash (edited)")
            expected_prev = event.hash
            expected_id += 1
            count += 1
        return VerifyResult(True, count, head_hash=expected_prev if count else None)

    def page(self, session: Session, **filters: Any) -> list[AuditEvent]:
        """Events newest first with optional filters (see `AuditRepository.page`)."""
        return audit_repository.page(session, **filters)

    def for_subject(self, session: Session, subject_type: str, subject_id: str | int) -> list[AuditEvent]:
        """A subject's timeline, oldest first."""
        events = audit_repository.page(
            session, subject_type=subject_type, subject_id=str(subject_id), limit=1000
        )
        return list(reversed(events))


audit = AuditService()
