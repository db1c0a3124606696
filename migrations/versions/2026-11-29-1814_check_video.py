"""Checks: videos (media type, duration and the vPDQ frame hashes of a checked video)

A video check keeps the file's SHA-256 and MD5 and, in `pdq`, the hash of its first usable sampled
frame (so image-shaped readers keep working); `video_frames` holds every sampled frame as
[frame number, PDQ hex, quality, seconds, {variant: PDQ hex}], what the copy sweep compares a removed video against.

Revision ID: 0022_check_video
Revises: 0021_bank_video_match_pct
Create Date: 2026-11-29 18:14:30.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022_check_video"
down_revision: str | Sequence[str] | None = "0021_bank_video_match_pct"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of `checks` on SQLite would touch the rows other tables reference.
    op.add_column(
        "checks", sa.Column("media_type", sa.String(10), nullable=False, server_default=sa.text("'image'"))
    )
    op.add_column("checks", sa.Column("duration_seconds", sa.Float(), nullable=True))
    op.add_column(
        "checks",
        sa.Column("video_frames", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE checks DROP COLUMN video_frames")
    op.execute("ALTER TABLE checks DROP COLUMN duration_seconds")
    op.execute("ALTER TABLE checks DROP COLUMN media_type")
