"""Takedown: stay-down entries per notice item, near-duplicate review decisions

`notice_contents.stay_down_entry_ids` lists the `stay-down` bank entries an item added, so a restore
can disable exactly those; `reviewed_by`, `reviewed_at` and `review_reason` record the decision on a
near-duplicate the sweep left in review (removed or dismissed).

Revision ID: 0008_takedown_review
Revises: 0007_notice_queue_by_regime
Create Date: 2026-11-23 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_takedown_review"
down_revision: str | Sequence[str] | None = "0007_notice_queue_by_regime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_contents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "stay_down_entry_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_contents", schema=None) as batch_op:
        batch_op.drop_column("review_reason")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("stay_down_entry_ids")
