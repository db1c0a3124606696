"""The content registry: platform content ids with their hashes, so a takedown finds every copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.repository import (
    checks_repository,
    content_repository,
)
from moderation.checks.schemas import CheckMetadata
from moderation.exceptions import NotFound, ValidationFailed
from moderation.hashing.types import (
    PDQ,
    PDQ_DEFAULT_THRESHOLD,
    hamming_to_rows,
    hex_to_rows,
    pairwise_hamming,
)
from moderation.hashing.video import MIN_FRAME_QUALITY
from moderation.kit.time import utc_now
from moderation.models.check import Check
from moderation.models.content_item import ContentItem

PDQ_SEGMENTS = 16
PDQ_SEGMENT_BITS = 16
MAX_NEAR_DUPLICATE_THRESHOLD = 47
MAX_CANDIDATES = 100_000
# A registered video is a copy of a removed one when this share of either's frames match the other's.
VIDEO_COPY_PCT = 80.0
# Frames of a removed video whose PDQ keys are probed for candidates (each probes 272 keys).
SWEEP_PROBE_FRAMES = 60


def usable_frames(frames: Sequence[Sequence[Any]] | None) -> list[Sequence[Any]]:
    """Stored frame hashes ([frame, PDQ, quality, seconds]) that take part in matching."""
    return [f for f in frames or () if int(f[2]) >= MIN_FRAME_QUALITY]


def pdq_keys(pdq: str) -> list[int]:
    """The 16 stored keys of a PDQ hash: `segment << 16 | 16-bit value of that segment`."""
    value = PDQ.parse(pdq)
    return [(i << PDQ_SEGMENT_BITS) | int(value[4 * i : 4 * i + 4], 16) for i in range(PDQ_SEGMENTS)]


def pdq_probe_keys(pdq: str, threshold: int) -> list[int]:
    """Every key a hash within `threshold` of `pdq` must share at least one of (pigeonhole: with 16
    segments and a per-segment radius t, 16 * (t + 1) > threshold guarantees one segment within t)."""
    radius = -(-(threshold + 1) // PDQ_SEGMENTS) - 1
    flips: list[int] = [0]
    if radius >= 1:
        flips += [1 << b for b in range(PDQ_SEGMENT_BITS)]
    if radius >= 2:
        flips += [
            (1 << a) | (1 << b) for a in range(PDQ_SEGMENT_BITS) for b in range(a + 1, PDQ_SEGMENT_BITS)
        ]
    keys: list[int] = []
    for key in pdq_keys(pdq):
        segment, value = key >> PDQ_SEGMENT_BITS, key & 0xFFFF
        keys.extend((segment << PDQ_SEGMENT_BITS) | (value ^ flip) for flip in flips)
    return keys


@dataclass(frozen=True)
class ContentCopy:
    """A registered piece of platform content that is the same as, or near, the queried content."""

    content_item_id: int
    content_id: str
    uploader_id: str | None
    match: str  # identical | near_duplicate
    distance: int
    sha256: str
    md5: str
    pdq: str
    check_id: int
    decision: str
    removed_at: Any = None
    removal_notice_id: str | None = None


def _copy(item: ContentItem, match: str, distance: int) -> ContentCopy:
    return ContentCopy(
        content_item_id=item.id,
        content_id=item.content_id,
        uploader_id=item.uploader_id,
        match=match,
        distance=distance,
        sha256=item.sha256,
        md5=item.md5,
        pdq=item.pdq,
        check_id=item.check_id,
        decision=item.decision,
        removed_at=item.removed_at,
        removal_notice_id=item.removal_notice_id,
    )


class ContentRegistry:
    """Platform content ids with their hashes, so a takedown can find every copy already published.

    Near-duplicate search uses a multi-index prefilter in SQL: each item stores 16 keys (one per
    16-bit segment of its PDQ hash); a query probes the keys within distance 1 of each of its segments
    (272 keys at threshold 31), which by the pigeonhole principle includes every hash within the
    threshold, then verifies the candidates' exact Hamming distance in numpy. No full table scan.
    """

    def register(self, session: Session, check: Check, meta: CheckMetadata) -> ContentItem:
        """Record (or refresh) `meta.content_id` with the check's hashes and decision."""
        assert meta.content_id is not None
        now = utc_now()
        existing = content_repository.get(session, meta.content_id, check.sha256)
        if existing is not None:
            existing.check_id, existing.decision, existing.last_checked_at = check.id, check.decision, now
            return existing
        item = ContentItem(
            content_id=meta.content_id,
            uploader_id=meta.uploader_id,
            sha256=check.sha256,
            md5=check.md5,
            pdq=check.pdq,
            pdq_quality=check.pdq_quality,
            check_id=check.id,
            decision=check.decision,
            last_checked_at=now,
        )
        keys = set(pdq_keys(check.pdq))
        for frame in usable_frames(check.video_frames):
            # A video is found through any of its frames (the sweep for removed videos and images).
            keys.update(pdq_keys(frame[1]))
        return content_repository.add(session, item, sorted(keys))

    def video_frames(self, session: Session, check_id: int) -> list[list[Any]] | None:
        """The frame hashes ([frame, PDQ, quality, seconds]) of a video check; None for an image."""
        check = checks_repository.get(session, check_id)
        return None if check is None or check.media_type != "video" else check.video_frames

    def find_video_copies(
        self,
        session: Session,
        frames: Sequence[Sequence[Any]],
        *,
        pdq_threshold: int = PDQ_DEFAULT_THRESHOLD,
        min_pct: float = VIDEO_COPY_PCT,
    ) -> list[ContentCopy]:
        """Registered content that is a copy of a video given by its frame hashes: videos that contain
        it (at least `min_pct`% of its usable frames within `pdq_threshold` of theirs) or are a clip of
        it (at least `min_pct`% of theirs within reach of its frames), and images that are one of its
        frames. Candidates come from the PDQ keys of up to `SWEEP_PROBE_FRAMES` frames spread over the
        video, then every frame is compared."""
        usable = usable_frames(frames)
        if not usable:
            return []
        probes = [
            usable[int(i)] for i in np.unique(np.linspace(0, len(usable) - 1, SWEEP_PROBE_FRAMES).round())
        ]
        keys: set[int] = set()
        for frame in probes:
            keys.update(pdq_probe_keys(frame[1], pdq_threshold))
        query = hex_to_rows([f[1] for f in usable])
        found: list[ContentCopy] = []
        for item in content_repository.by_pdq_keys(session, sorted(keys), MAX_CANDIDATES):
            theirs = usable_frames(self.video_frames(session, item.check_id))
            rows = hex_to_rows([f[1] for f in theirs] if theirs else [item.pdq])
            distances = pairwise_hamming(query, rows)
            within = distances <= pdq_threshold
            if theirs:
                contains = 100.0 * float(within.any(axis=1).mean())
                clip = 100.0 * float(within.any(axis=0).mean())
                if max(contains, clip) < min_pct:
                    continue
            elif not within.any():
                continue
            found.append(_copy(item, "near_duplicate", int(distances.min())))
        return sorted(found, key=lambda c: (c.distance, c.content_item_id))

    def find_copies(
        self,
        session: Session,
        *,
        sha256: str | None = None,
        md5: str | None = None,
        pdq: str | None = None,
        pdq_threshold: int = PDQ_DEFAULT_THRESHOLD,
    ) -> list[ContentCopy]:
        """Every registered item identical to the query (same SHA-256 or MD5) or near it (PDQ within
        `pdq_threshold`, at most 47), identical ones first, then by distance."""
        if pdq_threshold < 0 or pdq_threshold > MAX_NEAR_DUPLICATE_THRESHOLD:
            raise ValidationFailed(
                f"pdq_threshold must be between 0 and {MAX_NEAR_DUPLICATE_THRESHOLD}",
                code="invalid_threshold",
            )
        found: dict[int, ContentCopy] = {}
        for item in content_repository.exact(session, sha256=sha256, md5=md5):
            found[item.id] = _copy(item, "identical", 0)
        if pdq:
            query = hex_to_rows([pdq])[0]
            candidates = [
                c
                for c in content_repository.by_pdq_keys(
                    session, pdq_probe_keys(pdq, pdq_threshold), MAX_CANDIDATES
                )
                if c.id not in found
            ]
            if candidates:
                distances = hamming_to_rows(query, hex_to_rows([c.pdq for c in candidates]))
                for item, distance in zip(candidates, np.asarray(distances).tolist(), strict=True):
                    if distance <= pdq_threshold:
                        found[item.id] = _copy(item, "near_duplicate", int(distance))
        return sorted(found.values(), key=lambda c: (c.match != "identical", c.distance, c.content_item_id))

    def copies_of(
        self, session: Session, content_id: str, *, pdq_threshold: int = PDQ_DEFAULT_THRESHOLD
    ) -> list[ContentCopy]:
        """Every copy of every version registered under `content_id` (the item itself included)."""
        found: dict[int, ContentCopy] = {}
        for item in content_repository.by_content_id(session, content_id):
            for copy in self.find_copies(
                session, sha256=item.sha256, md5=item.md5, pdq=item.pdq, pdq_threshold=pdq_threshold
            ):
                if copy.content_item_id not in found or copy.distance < found[copy.content_item_id].distance:
                    found[copy.content_item_id] = copy
        return sorted(found.values(), key=lambda c: (c.match != "identical", c.distance, c.content_item_id))

    def mark_removed(
        self, session: Session, content_id: str, notice_id: str | int, actor: str
    ) -> list[ContentCopy]:
        """Mark every registered version of `content_id` as removed under a notice (audited)."""
        items = content_repository.mark_removed(
            session, content_id, at=utc_now(), actor=actor, notice_id=str(notice_id)
        )
        if not items:
            raise NotFound(f"no registered content '{content_id}'", code="content_not_found")
        audit.record(
            session,
            actor=actor,
            action="content.removed",
            subject_type="content",
            subject_id=content_id,
            details={"notice_id": str(notice_id), "items": [i.id for i in items]},
        )
        return [_copy(i, "identical", 0) for i in items]

    def allow_after_appeal(self, session: Session, check_id: int, *, appeal_id: int, actor: str) -> list[int]:
        """The registry rows of check `check_id` are allowed again (an appeal overturned its block)."""
        items = content_repository.allow_after_appeal(session, check_id)
        if items:
            audit.record(
                session,
                actor=actor,
                action="content.allowed_on_appeal",
                subject_type="check",
                subject_id=check_id,
                details={"appeal_id": appeal_id, "items": items},
            )
        return items


content_registry = ContentRegistry()
