"""The review queue: checks decided `review`, reviewers' verdicts, and the encrypted image copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.errors import ReviewCopyNotFound, ReviewItemNotFound
from moderation.checks.ports import add_hashes_to_bank
from moderation.checks.repository import (
    REVIEW_KEY,
    checks_repository,
    content_repository,
    review_copy_repository,
    review_repository,
)
from moderation.checks.schemas import ReviewEntry
from moderation.checks.service import checks, hashes_of
from moderation.config import Settings
from moderation.exceptions import IllegalTransition, ValidationFailed
from moderation.exchanges.feedback import exchange_feedback
from moderation.kit import evidence_crypto
from moderation.kit.paging import Page, decode_cursor, page_of
from moderation.kit.time import utc_now
from moderation.models.check import Check
from moderation.models.review_item import ReviewItem
from moderation.statements.service import statements

QUEUE_STATES = {
    "open": ("open",),
    "escalated": ("escalated",),
    "pending": ("open", "escalated"),
    "decided": ("allowed", "blocked"),
    "all": ("open", "escalated", "allowed", "blocked"),
}


class ReviewQueue:
    """Checks decided `review`, highest risk first.

    Lifecycle: a `review` decision opens an item (`open`). A reviewer's verdict moves it: `escalate`
    -> `escalated` (still pending, for a senior reviewer); `allow` -> `allowed`, `block` -> `blocked`
    (final; the check records the verdict, and later checks of the same bytes return it). A `block`
    verdict may add the content's hashes to a bank. Every verdict is audited.
    """

    def list(
        self, session: Session, *, state: str = "pending", limit: int = 50, offset: int = 0
    ) -> list[ReviewEntry]:
        """A page of the queue (`state`: open, escalated, pending = both, decided, all)."""
        return self.page(session, state=state, limit=limit, offset=offset).items

    def page(
        self,
        session: Session,
        *,
        state: str = "pending",
        cursor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ReviewEntry]:
        """A page of the queue; pass `next_cursor` back as `cursor` for the next one (`offset`: the
        deprecated API alias, ignored with a cursor)."""
        if state not in QUEUE_STATES:
            raise ValidationFailed(f"state must be one of {', '.join(QUEUE_STATES)}", code="invalid_state")
        after = decode_cursor(cursor, REVIEW_KEY) if cursor else None
        rows = review_repository.queue(
            session,
            states=QUEUE_STATES[state],
            limit=limit + 1,
            after=after,
            offset=0 if after else offset,
        )
        page = page_of(rows, limit, lambda i: (i.risk, i.id))
        checks_by_id = checks_repository.by_ids(session, [i.check_id for i in page.items])
        entries = [self._entry(session, item, checks_by_id[item.check_id]) for item in page.items]
        return Page(entries, page.next_cursor)

    def get(self, session: Session, item_id: int) -> ReviewEntry:
        item = review_repository.get(session, item_id)
        if item is None:
            raise ReviewItemNotFound(f"no review item {item_id}")
        check = checks_repository.get(session, item.check_id)
        assert check is not None
        return self._entry(session, item, check)

    def _entry(self, session: Session, item: ReviewItem, check: Check) -> ReviewEntry:
        return ReviewEntry(
            id=item.id,
            state=item.state,
            risk=item.risk,
            created_at=item.created_at,
            content_id=item.content_id,
            decided_at=item.decided_at,
            decided_by=item.decided_by,
            note=item.note,
            added_to_bank=item.added_to_bank,
            check=checks.stored_result(session, check),
            prompt=check.prompt,
            source=check.source,
        )

    def verdict(
        self,
        session: Session,
        item_id: int,
        *,
        verdict: str,
        actor: str,
        note: str | None = None,
        add_to_bank: str | None = None,
        policy_version: str | None = None,
        settings: Settings,
    ) -> ReviewEntry:
        """Record a reviewer's verdict (`allow`, `block`, `escalate`) against the item and its check.

        The item's encrypted image copy is deleted on `allow`; on `block` it is kept for
        MODERATION_REVIEW_COPY_RETENTION_DAYS (0: deleted at once), then the purge job deletes it."""
        if verdict not in ("allow", "block", "escalate"):
            raise ValidationFailed("verdict must be allow, block or escalate", code="invalid_verdict")
        if add_to_bank and verdict != "block":
            raise ValidationFailed("add_to_bank goes only with a block verdict", code="invalid_verdict")
        item = review_repository.get(session, item_id, for_update=True)
        if item is None:
            raise ReviewItemNotFound(f"no review item {item_id}")
        check = checks_repository.get(session, item.check_id)
        assert check is not None
        from_states = ("open",) if verdict == "escalate" else ("open", "escalated")
        now = utc_now()
        new_state = {"allow": "allowed", "block": "blocked", "escalate": "escalated"}[verdict]
        values: dict[str, Any] = {"state": new_state, "note": note}
        if verdict != "escalate":
            values.update(decided_at=now, decided_by=actor)
        if not review_repository.claim_transition(session, item.id, from_states=from_states, values=values):
            raise IllegalTransition(
                f"review item {item_id} is {item.state}; it cannot take a(n) {verdict} verdict",
                details={"state": item.state},
            )
        bank_entries: list[Any] = []
        if verdict != "escalate":
            check.verdict, check.verdict_at, check.verdict_by = verdict, now, actor
            for content in content_repository.exact(session, sha256=check.sha256, md5=None):
                if content.check_id == check.id:
                    content.decision = verdict
            if add_to_bank:
                bank_entries = list(
                    add_hashes_to_bank(
                        session,
                        bank=add_to_bank,
                        hashes=hashes_of(check),
                        actor=actor,
                        note=f"review item {item.id} (check {check.id}) blocked",
                        metadata={
                            "check_id": check.id,
                            "review_item_id": item.id,
                            "content_id": item.content_id,
                        },
                    )
                    or []
                )
                session.refresh(item)
                item.added_to_bank = add_to_bank
            # Exchange entries the check matched: confirmations/overturns and feedback, in this transaction.
            exchange_feedback.on_verdict(
                session,
                check_id=check.id,
                entry_ids=[
                    r["entry_id"]
                    for r in check.reasons
                    if r.get("kind") == "bank_match" and r.get("entry_id")
                ],
                verdict=verdict,
                actor=actor,
            )
        copy = self._settle_copy(session, item.id, verdict, now, settings)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action=f"review.{verdict}",
            subject_type="review_item",
            subject_id=item.id,
            details={
                "check_id": check.id,
                "content_id": item.content_id,
                "note": note,
                "bank": add_to_bank,
                "bank_entry_ids": [getattr(e, "id", None) for e in bank_entries],
                "review_copy": copy,
            },
            policy_version=policy_version or check.policy_version,
        )
        statements.record_verdict(session, check, actor=actor, settings=settings)
        session.refresh(item)
        return self._entry(session, item, check)

    def _settle_copy(
        self, session: Session, item_id: int, verdict: str, now: datetime, settings: Settings
    ) -> str | None:
        """What happens to the image copy on a verdict (for the audit event); None without a copy."""
        if verdict == "escalate":
            return "kept" if review_copy_repository.exists(session, item_id) else None
        days = settings.review_copy_retention_days
        if verdict == "allow" or days <= 0:
            return "deleted" if review_copy_repository.delete(session, item_id) else None
        until = now + timedelta(days=days)
        if review_copy_repository.set_delete_after(session, item_id, until):
            return f"kept until {until.astimezone(UTC).isoformat()}"
        return None

    def has_image(self, session: Session, item_id: int) -> bool:
        """Whether the item still holds an encrypted copy of its image."""
        return review_copy_repository.exists(session, item_id)

    def review_image(
        self,
        session: Session,
        review_item_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> bytes:
        """The decrypted image bytes of a review item, for an authorised reader; every read is audited
        (`review.image_read`, in the caller's transaction). 404 `review_item_not_found` or
        `review_copy_not_found` (never stored for allowed content, deleted after an allow verdict or
        when a block verdict's retention ends)."""
        item = review_repository.get(session, review_item_id)
        if item is None:
            raise ReviewItemNotFound(f"no review item {review_item_id}")
        copy = review_copy_repository.get(session, review_item_id)
        if copy is None:
            raise ReviewCopyNotFound(f"review item {review_item_id} holds no image copy")
        audit.record(
            session,
            actor=actor,
            action="review.image_read",
            subject_type="review_item",
            subject_id=review_item_id,
            details={"check_id": item.check_id, "sha256": copy.sha256, "reason": reason},
        )
        return evidence_crypto.decrypt(settings, copy.ciphertext)

    def purge_copies(self, session: Session, *, actor: str, limit: int = 500) -> int:
        """Delete the image copies of blocked items whose retention has ended (one audit event per run)."""
        purged = review_copy_repository.purge_due(session, utc_now(), limit)
        if purged:
            audit.record(
                session,
                actor=actor,
                action="review.copies_purged",
                subject_type="review_item",
                subject_id=purged[0] if len(purged) == 1 else f"{min(purged)}-{max(purged)}",
                details={"review_item_ids": sorted(purged)},
            )
        return len(purged)


review_queue = ReviewQueue()
