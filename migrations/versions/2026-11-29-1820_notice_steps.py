"""Multi-step clocks: each notice clock names its step, and the steps that meet them are recorded

`notice_clocks.step` says what a clock asks for (acknowledgement, status update, decision, removal);
existing rows are removal clocks. `notice_steps` records each acknowledgement or status update sent
to the reporter and each decision recorded, which meet the clocks of that step.

Revision ID: 0016_notice_steps
Revises: 0018_statements
Create Date: 2026-11-29 18:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_notice_steps"
down_revision: str | Sequence[str] | None = "0018_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.String(length=20), server_default="removal", nullable=False))
    op.create_table(
        "notice_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_steps_notice_id_notices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_steps")),
    )
    with op.batch_alter_table("notice_steps", schema=None) as batch_op:
        batch_op.create_index("ix_notice_steps_notice_id_step", ["notice_id", "step"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_steps_notice_id_step")
    op.drop_table("notice_steps")
    with op.batch_alter_table("notice_clocks", schema=None) as batch_op:
        batch_op.drop_column("step")
