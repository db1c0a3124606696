"""Seals over stored checks: batches vouched for by one audit event each, and their verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.errors import SealConflict
from moderation.checks.repository import (
    checks_repository,
)
from moderation.models.check import Check

SEAL_ACTION = "checks.sealed"


def check_digest(check: Check) -> str:
    """SHA-256 of a check's canonical content: what a seal vouches for. The fields never change after
    the check is stored (a reviewer's verdict lives in other columns and is audited on its own)."""
    created = check.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = {
        "id": check.id,
        "sha256": check.sha256,
        "decision": check.decision,
        "reasons": check.reasons,
        "policy_version": check.policy_version,
        "created_at": created,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def batch_digest(digests: Sequence[str]) -> str:
    """SHA-256 over the batch's check digests in id order, one per line."""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


@dataclass(frozen=True)
class Seal:
    event_id: int
    first_id: int
    last_id: int
    count: int
    digest: str


@dataclass
class SealReport:
    """The outcome of `check_seals.verify`: ok, or the first problem with the check (and event) it is in."""

    ok: bool = True
    batches: int = 0
    sealed: int = 0
    unsealed: int = 0
    oldest_unsealed_at: datetime | None = None
    check_id: int | None = None
    event_id: int | None = None
    reason: str | None = None


class CheckSeals:
    """Seals stored checks into the audit log, in batches, and verifies the seals.

    Lifecycle: a check is stored unsealed. `seal_batch` (run by the `checks.seal_decisions` job every
    worker interval, or `moderation checks seal`) takes the oldest unsealed checks, appends one
    `checks.sealed` audit event with their id range, count and batch digest, and claims them with a
    conditional UPDATE; when another sealer claimed any of them first it raises `SealConflict`, and the
    caller's rollback drops the event too. `verify` recomputes every batch from the checks table.
    """

    def seal_batch(self, session: Session, *, actor: str, limit: int) -> Seal | None:
        """Seal up to `limit` unsealed checks in the caller's transaction; None when there are none."""
        rows = checks_repository.unsealed(session, limit)
        if not rows:
            return None
        digests = {check.id: check_digest(check) for check in rows}
        ids = list(digests)
        digest = batch_digest(list(digests.values()))
        event = audit.record(
            session,
            actor=actor,
            action=SEAL_ACTION,
            subject_type="check_batch",
            subject_id=f"{ids[0]}-{ids[-1]}",
            details={
                "first_id": ids[0],
                "last_id": ids[-1],
                "count": len(ids),
                "digest": digest,
                "decisions": {
                    d: sum(1 for c in rows if c.decision == d) for d in sorted({c.decision for c in rows})
                },
            },
        )
        claimed = checks_repository.claim_seal(session, ids, event.id)
        if claimed != len(ids):
            raise SealConflict(
                f"{len(ids) - claimed} of checks {ids[0]}-{ids[-1]} were sealed by another worker"
            )
        checks_repository.set_seal_digests(session, event.id, digests)
        return Seal(event.id, ids[0], ids[-1], len(ids), digest)

    def verify(self, session: Session) -> SealReport:
        """Recompute every `checks.sealed` batch from the checks table, oldest first. Fails on the first
        check whose content no longer matches its digest, a batch that lost or gained checks, or a
        check that claims a seal no event made."""
        report = SealReport()
        seen: set[int] = set()
        before: int | None = None
        events: list[tuple[int, dict[str, Any]]] = []
        while True:
            page = audit.page(session, action=SEAL_ACTION, before_id=before, limit=1000)
            if not page:
                break
            events.extend((e.id, dict(e.details)) for e in page)
            before = page[-1].id
        for event_id, details in sorted(events, key=lambda e: e[0]):
            seen.add(event_id)
            rows = checks_repository.sealed_by(session, event_id)
            digests = []
            for check in rows:
                digest = check_digest(check)
                if digest != check.seal_digest:
                    return self._fail(report, check.id, event_id, "content does not match its sealed digest")
                digests.append(digest)
            if len(rows) != details.get("count") or (rows and rows[0].id != details.get("first_id")):
                return self._fail(
                    report,
                    rows[0].id if rows else details.get("first_id"),
                    event_id,
                    f"the batch sealed {details.get('count')} checks; {len(rows)} are marked with it now",
                )
            if batch_digest(digests) != details.get("digest"):
                return self._fail(
                    report, rows[0].id, event_id, "batch digest does not match (check digests rewritten)"
                )
            report.batches += 1
            report.sealed += len(rows)
            session.expunge_all()
        stray = sorted(checks_repository.seal_event_ids(session) - seen)
        if stray:
            check = checks_repository.sealed_by(session, stray[0])[0]
            return self._fail(report, check.id, stray[0], "sealed by an event that is not a checks seal")
        report.unsealed, report.oldest_unsealed_at = checks_repository.unsealed_summary(session)
        return report

    @staticmethod
    def _fail(report: SealReport, check_id: int | None, event_id: int, reason: str) -> SealReport:
        report.ok, report.check_id, report.event_id, report.reason = False, check_id, event_id, reason
        return report


check_seals = CheckSeals()
