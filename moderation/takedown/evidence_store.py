"""Preserved evidence: holds per case, regime and child-safety duty, audited reads of the encrypted
bytes, and the purge of items no hold covers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ValidationFailed
from moderation.kit import evidence_crypto
from moderation.kit.time import utc_now
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import Notice
from moderation.policy.regimes import Regime, RegimeVersion
from moderation.takedown.clocks import (
    iso_utc,
)
from moderation.takedown.context import (
    audit_notice,
    load_notice,
)
from moderation.takedown.errors import (
    EvidenceNotFound,
    EvidenceNotHeld,
    EvidencePurged,
)
from moderation.takedown.evidence import period_end
from moderation.takedown.repository import takedown_repository as repo


@dataclass(frozen=True)
class EvidenceRead:
    """Decrypted evidence for an authorised, audited read."""

    evidence_id: int
    notice_id: int
    data: bytes
    media_type: str
    sha256: str | None
    child_safety: bool


def hold_evidence(
    session: Session,
    notice: Notice,
    item: EvidenceItem,
    versions: list[tuple[Regime, RegimeVersion]],
    *,
    start: datetime,
) -> None:
    existing = {h.kind for h in repo.holds(session, notice.id) if h.evidence_id == item.id}
    if "case" not in existing:
        repo.add_hold(session, EvidenceHold(evidence_id=item.id, notice_id=notice.id, kind="case"))
    for regime, version in versions:
        kind = f"regime:{regime.id}"
        if version.preservation is not None and kind not in existing:
            repo.add_hold(
                session,
                EvidenceHold(
                    evidence_id=item.id,
                    notice_id=notice.id,
                    kind=kind,
                    until=period_end(start, version.preservation),
                    note=f"{version.preservation.length} {version.preservation.unit} from removal",
                ),
            )
    if (
        notice.child_safety or any(v.child_safety_track for _, v in versions)
    ) and "child_safety" not in existing:
        repo.add_hold(
            session,
            EvidenceHold(
                evidence_id=item.id,
                notice_id=notice.id,
                kind="child_safety",
                until=None,
                note="child-safety evidence is kept until released by legal",
            ),
        )


class EvidenceStore:
    """Preserved evidence. Lifecycle: stored at intake (uploads) or removal (hashes, metadata) under
    a `case` hold, plus a hold per regime preservation period from removal and an open-ended
    `child_safety` hold; `purge` drops bytes and metadata of items no active hold covers."""

    def evidence_holding(self, session: Session, sha256: str) -> list[int]:
        """Ids of preserved evidence items that hold the bytes of the image with this SHA-256."""
        return [item.id for item in repo.evidence_holding(session, sha256)]

    def evidence_bytes(
        self,
        session: Session,
        evidence_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> bytes | None:
        """Decrypt preserved bytes for an authorised reader; every read is audited. None when the
        item does not exist or holds no bytes (hash-only, or purged)."""
        item = repo.get_evidence(session, evidence_id)
        if item is None or item.ciphertext is None:
            return None
        notice = repo.get(session, item.notice_id)
        audit_notice(
            session,
            item.notice_id,
            "evidence.read",
            actor=actor,
            details={
                "evidence_id": item.id,
                "reason": reason,
                "child_safety": bool(notice and notice.child_safety),
            },
        )
        return evidence_crypto.decrypt(settings, item.ciphertext)

    def read_evidence(
        self,
        session: Session,
        notice_id: int,
        evidence_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings,
    ) -> EvidenceRead:
        """The decrypted bytes of one evidence item of a notice, for a named reader with a stated
        reason (required); the read is audited as `evidence.read` with actor, reason and whether it is
        child-safety evidence. 404 `evidence_not_found` / `evidence_bytes_not_held`, 410
        `evidence_purged` after the purge job dropped the bytes."""
        if not (reason and reason.strip()):
            raise ValidationFailed("a reason is required to read evidence", code="reason_required")
        notice = load_notice(session, notice_id)
        item = repo.get_evidence(session, evidence_id)
        if item is None or item.notice_id != notice.id:
            raise EvidenceNotFound(
                f"notice {notice.id} has no evidence item {evidence_id}",
                details={"notice_id": notice.id, "evidence_id": evidence_id},
            )
        if item.purged_at is not None:
            raise EvidencePurged(
                f"evidence {evidence_id} was purged at {iso_utc(item.purged_at)}",
                details={"evidence_id": evidence_id, "purged_at": iso_utc(item.purged_at)},
            )
        if item.ciphertext is None:
            raise EvidenceNotHeld(
                f"evidence {evidence_id} keeps hashes and metadata only; the service never held the bytes",
                details={"evidence_id": evidence_id},
            )
        data = self.evidence_bytes(session, evidence_id, actor=actor, reason=reason, settings=settings)
        assert data is not None
        return EvidenceRead(
            evidence_id=item.id,
            notice_id=notice.id,
            data=data,
            media_type=media_type(data),
            sha256=item.sha256,
            child_safety=notice.child_safety,
        )

    def purge(self, session: Session, *, actor: str, limit: int = 500) -> int:
        """Purge up to `limit` unheld items; each purge is audited. Safe to run on several workers."""
        now = utc_now()
        purged = 0
        for evidence_id in repo.purgeable(session, now, limit):
            item = repo.get_evidence(session, evidence_id)
            if item is None or not repo.purge(session, evidence_id, now):
                continue
            purged += 1
            audit_notice(
                session,
                item.notice_id,
                "evidence.purged",
                actor=actor,
                details={"evidence_id": evidence_id, "sha256": item.sha256},
            )
        return purged


# Leading bytes of the image formats the check API accepts; anything else is served as octet-stream.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def media_type(data: bytes) -> str:
    """The image media type from the leading bytes; `application/octet-stream` when unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1"):
        return "image/avif" if data[8:12] == b"avif" else "image/heic"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return "application/octet-stream"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


evidence_store = EvidenceStore()
