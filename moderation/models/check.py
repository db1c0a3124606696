"""A pre-publish check: the content's hashes, the decision, its reasons and the policy version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base, TimestampMixin


class Check(TimestampMixin, Base):
    __tablename__ = "checks"
    __table_args__ = (
        Index("ix_checks_cache", "cache_key", "policy_version"),
        Index("ix_checks_sha256", "sha256"),
        Index("ix_checks_content_id", "content_id"),
        Index("ix_checks_sealed", "sealed_by_event_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    # Inputs: the hashes of the bytes and the metadata the decision depended on.
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    pdq: Mapped[str] = mapped_column(String(64))
    pdq_quality: Mapped[int]
    phash: Mapped[str] = mapped_column(String(16))
    dhash: Mapped[str] = mapped_column(String(16))
    image_format: Mapped[str] = mapped_column(String(10))
    # image | video. A video's `pdq` is its first usable sampled frame's; every frame is in `video_frames`
    # as [frame number, PDQ hex, quality, seconds, {variant kind: PDQ hex}].
    media_type: Mapped[str] = mapped_column(String(10), default="image", server_default=text("'image'"))
    duration_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    video_frames: Mapped[list[Any] | None] = mapped_column(default=None)
    width: Mapped[int]
    height: Mapped[int]
    content_id: Mapped[str | None] = mapped_column(String(200), default=None)
    uploader_id: Mapped[str | None] = mapped_column(String(200), default=None)
    source: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    generator_model: Mapped[str | None] = mapped_column(String(200), default=None)
    seed: Mapped[str | None] = mapped_column(String(100), default=None)
    # Identical bytes + the same decision inputs + the same policy version -> the same key.
    cache_key: Mapped[str] = mapped_column(String(64))
    # Outputs.
    decision: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    classifier: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str] = mapped_column(String(64))
    # A reviewer's verdict (allow | block), when the check went to review and was decided.
    verdict: Mapped[str | None] = mapped_column(String(10), default=None)
    verdict_at: Mapped[datetime | None] = mapped_column(default=None)
    verdict_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # Sealing: the `checks.sealed` audit event whose batch digest covers this check, and this check's
    # own digest (so a verifier can name the altered check, not just the batch).
    sealed_by_event_id: Mapped[int | None] = mapped_column(default=None)
    seal_digest: Mapped[str | None] = mapped_column(String(64), default=None)
