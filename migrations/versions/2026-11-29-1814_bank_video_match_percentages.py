"""Banks: vPDQ match percentages for video entries

`video_query_match_pct` (Q) is the share of a query video's usable frames that must match some frame of
a bank entry; `video_compared_match_pct` (C) the share of the entry's usable frames that must be matched.
Defaults 80 and 0, so a clip cut from a banked video matches.

Revision ID: 0021_bank_video_match_pct
Revises: 0016_notice_steps
Create Date: 2026-11-29 18:14:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_bank_video_match_pct"
down_revision: str | Sequence[str] | None = "0016_notice_steps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (not a batch copy): recreating `banks` on SQLite would cascade to its entries.
    op.add_column(
        "banks",
        sa.Column("video_query_match_pct", sa.Float(), nullable=False, server_default=sa.text("80.0")),
    )
    op.add_column(
        "banks",
        sa.Column("video_compared_match_pct", sa.Float(), nullable=False, server_default=sa.text("0.0")),
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN works on PostgreSQL and SQLite >= 3.35 without copying the table.
    op.execute("ALTER TABLE banks DROP COLUMN video_compared_match_pct")
    op.execute("ALTER TABLE banks DROP COLUMN video_query_match_pct")
