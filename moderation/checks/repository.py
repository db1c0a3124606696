"""All SQL of the checks feature: checks and their seals, the content registry with its PDQ keys, the
review queue and its encrypted image copies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from moderation.kit.paging import CursorKey, KeyPart, KeyValue, keyset_after
from moderation.models.check import Check
from moderation.models.content_item import ContentItem
from moderation.models.content_pdq_key import ContentPDQKey
from moderation.models.review_copy import ReviewCopy
from moderation.models.review_item import ReviewItem

# The review queue's order: highest risk first, then oldest (lowest id) first.
REVIEW_KEY: CursorKey = (KeyPart("float", descending=True), KeyPart("int"))


class CheckRepository:
    def add(self, session: Session, check: Check) -> Check:
        session.add(check)
        session.flush()
        return check

    def get(self, session: Session, check_id: int) -> Check | None:
        return session.get(Check, check_id)

    def cached(self, session: Session, cache_key: str, policy_version: str) -> Check | None:
        """The latest check with the same cache key under the same policy version."""
        return session.scalars(
            select(Check)
            .where(Check.cache_key == cache_key, Check.policy_version == policy_version)
            .order_by(Check.id.desc())
            .limit(1)
        ).first()

    def by_ids(self, session: Session, ids: Iterable[int]) -> dict[int, Check]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        return {c.id: c for c in session.scalars(select(Check).where(Check.id.in_(wanted)))}

    def unsealed(self, session: Session, limit: int) -> list[Check]:
        """The oldest checks no seal covers yet, in id order."""
        return list(
            session.scalars(
                select(Check).where(Check.sealed_by_event_id.is_(None)).order_by(Check.id).limit(limit)
            )
        )

    def claim_seal(self, session: Session, ids: Sequence[int], event_id: int) -> int:
        """Mark still-unsealed checks as sealed by `event_id`; the count another sealer did not take."""
        result = session.execute(
            update(Check)
            .where(Check.id.in_(list(ids)), Check.sealed_by_event_id.is_(None))
            .values(sealed_by_event_id=event_id)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def set_seal_digests(self, session: Session, event_id: int, digests: dict[int, str]) -> None:
        table = cast(Table, Check.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("check_id"), table.c.sealed_by_event_id == event_id)
            .values(seal_digest=bindparam("digest")),
            [{"check_id": check_id, "digest": digest} for check_id, digest in digests.items()],
        )

    def sealed_by(self, session: Session, event_id: int) -> list[Check]:
        return list(
            session.scalars(select(Check).where(Check.sealed_by_event_id == event_id).order_by(Check.id))
        )

    def seal_event_ids(self, session: Session) -> set[int]:
        """Every event id some check claims to be sealed by."""
        return set(
            session.scalars(
                select(Check.sealed_by_event_id).where(Check.sealed_by_event_id.is_not(None)).distinct()
            )
        )

    def unsealed_summary(self, session: Session) -> tuple[int, datetime | None]:
        """How many checks wait for a seal, and when the oldest of them was made."""
        count, oldest = session.execute(
            select(func.count(Check.id), func.min(Check.created_at)).where(Check.sealed_by_event_id.is_(None))
        ).one()
        return int(count), oldest


class ContentRepository:
    def allow_after_appeal(self, session: Session, check_id: int) -> list[int]:
        """Registry rows of a check whose block was overturned: allowed, no longer removed."""
        ids = list(session.scalars(select(ContentItem.id).where(ContentItem.check_id == check_id)).all())
        if ids:
            session.execute(
                update(ContentItem)
                .where(ContentItem.id.in_(ids))
                .values(decision="allow", removed_at=None, removed_by=None, removal_notice_id=None)
            )
        return ids

    def get(self, session: Session, content_id: str, sha256: str) -> ContentItem | None:
        return session.scalars(
            select(ContentItem).where(ContentItem.content_id == content_id, ContentItem.sha256 == sha256)
        ).first()

    def add(self, session: Session, item: ContentItem, pdq_keys: Sequence[int]) -> ContentItem:
        session.add(item)
        session.flush()
        if pdq_keys:
            session.execute(
                insert(ContentPDQKey), [{"key": key, "content_item_id": item.id} for key in set(pdq_keys)]
            )
        return item

    def by_content_id(self, session: Session, content_id: str) -> list[ContentItem]:
        return list(
            session.scalars(
                select(ContentItem).where(ContentItem.content_id == content_id).order_by(ContentItem.id)
            )
        )

    def exact(self, session: Session, *, sha256: str | None, md5: str | None) -> list[ContentItem]:
        conditions = []
        if sha256:
            conditions.append(ContentItem.sha256 == sha256)
        if md5:
            conditions.append(ContentItem.md5 == md5)
        if not conditions:
            return []
        return list(session.scalars(select(ContentItem).where(or_(*conditions)).order_by(ContentItem.id)))

    def by_pdq_keys(self, session: Session, keys: Sequence[int], limit: int) -> list[ContentItem]:
        """Items sharing at least one PDQ key with the query (candidates, verified by the caller)."""
        ids = (
            select(ContentPDQKey.content_item_id)
            .where(ContentPDQKey.key.in_(list(keys)))
            .distinct()
            .limit(limit)
            .scalar_subquery()
        )
        return list(
            session.scalars(select(ContentItem).where(ContentItem.id.in_(ids)).order_by(ContentItem.id))
        )

    def mark_removed(
        self, session: Session, content_id: str, *, at: datetime, actor: str, notice_id: str
    ) -> list[ContentItem]:
        items = self.by_content_id(session, content_id)
        for item in items:
            if item.removed_at is None:
                item.removed_at, item.removed_by, item.removal_notice_id = at, actor, notice_id
        session.flush()
        return items


class ReviewRepository:
    def add(self, session: Session, item: ReviewItem) -> ReviewItem:
        session.add(item)
        session.flush()
        return item

    def get(self, session: Session, item_id: int, *, for_update: bool = False) -> ReviewItem | None:
        query = select(ReviewItem).where(ReviewItem.id == item_id)
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).first()

    def by_check(self, session: Session, check_id: int) -> ReviewItem | None:
        return session.scalars(select(ReviewItem).where(ReviewItem.check_id == check_id)).first()

    def queue(
        self,
        session: Session,
        *,
        states: Sequence[str],
        limit: int,
        after: Sequence[KeyValue] | None = None,
        offset: int = 0,
    ) -> list[ReviewItem]:
        """Highest risk first, then oldest first; `after` is the keyset cursor (`REVIEW_KEY`)."""
        query = select(ReviewItem).where(ReviewItem.state.in_(list(states)))
        if after is not None:
            query = keyset_after(query, (ReviewItem.risk, ReviewItem.id), REVIEW_KEY, after)
        return list(
            session.scalars(query.order_by(ReviewItem.risk.desc(), ReviewItem.id).limit(limit).offset(offset))
        )

    def claim_transition(
        self, session: Session, item_id: int, *, from_states: Sequence[str], values: dict[str, Any]
    ) -> bool:
        """Move an item out of `from_states`; False when another reviewer got there first."""
        result = session.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id, ReviewItem.state.in_(list(from_states)))
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class ReviewCopyRepository:
    def add(self, session: Session, copy: ReviewCopy) -> ReviewCopy:
        session.add(copy)
        session.flush()
        return copy

    def get(self, session: Session, review_item_id: int) -> ReviewCopy | None:
        return session.scalars(select(ReviewCopy).where(ReviewCopy.review_item_id == review_item_id)).first()

    def exists(self, session: Session, review_item_id: int) -> bool:
        found = session.scalar(select(ReviewCopy.id).where(ReviewCopy.review_item_id == review_item_id))
        return found is not None

    def delete(self, session: Session, review_item_id: int) -> bool:
        result = session.execute(delete(ReviewCopy).where(ReviewCopy.review_item_id == review_item_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_delete_after(self, session: Session, review_item_id: int, at: datetime) -> bool:
        result = session.execute(
            update(ReviewCopy).where(ReviewCopy.review_item_id == review_item_id).values(delete_after=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def purge_due(self, session: Session, now: datetime, limit: int) -> list[int]:
        """Delete copies whose retention has ended; the review item ids whose copy went."""
        due = list(
            session.scalars(
                select(ReviewCopy.review_item_id)
                .where(ReviewCopy.delete_after.is_not(None), ReviewCopy.delete_after <= now)
                .order_by(ReviewCopy.id)
                .limit(limit)
            )
        )
        if not due:
            return []
        # RETURNING reports only the rows this statement deleted: a concurrent purge gets the rest.
        return list(
            session.scalars(
                delete(ReviewCopy)
                .where(ReviewCopy.review_item_id.in_(due), ReviewCopy.delete_after <= now)
                .returning(ReviewCopy.review_item_id)
            )
        )


checks_repository = CheckRepository()
content_repository = ContentRepository()
review_repository = ReviewRepository()
review_copy_repository = ReviewCopyRepository()
