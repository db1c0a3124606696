"""Regime-filtered notice queue index

The first clock of each regime of an open notice carries the notice's due time (`queue_due_at`,
`in_queue`), so `GET /v1/notices?regime=...` is a range scan of one partial index.

Revision ID: 0007_notice_queue_by_regime
Revises: 0006_alerts
Create Date: 2026-11-23 14:26:23.784108+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_notice_queue_by_regime"
down_revision: str | Sequence[str] | None = "0006_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_queue", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("queue_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_notice_clocks_regime_queue",
            ["regime", "queue_due_at", "notice_id"],
            unique=False,
            postgresql_where=sa.text("in_queue"),
            sqlite_where=sa.text("in_queue"),
        )
    op.execute(
        """
        UPDATE notice_clocks SET in_queue = TRUE,
            queue_due_at = (SELECT due_at FROM notices WHERE notices.id = notice_clocks.notice_id)
        WHERE id IN (
            SELECT MIN(c.id) FROM notice_clocks c JOIN notices n ON n.id = c.notice_id
            WHERE n.state IN ('received', 'needs_info', 'validated')
            GROUP BY c.notice_id, c.regime
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("notice_clocks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_notice_clocks_regime_queue",
            postgresql_where=sa.text("in_queue"),
            sqlite_where=sa.text("in_queue"),
        )
        batch_op.drop_column("queue_due_at")
        batch_op.drop_column("in_queue")
