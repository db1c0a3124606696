"""Checks sealed in audit batches; encrypted review copies.

`checks.sealed_by_event_id` names the `checks.sealed` audit event whose batch digest covers the check
and `checks.seal_digest` holds the check's own digest (so `moderation checks verify` can name an
altered check). `review_copies` holds the Fernet-encrypted bytes of content waiting for review.

Revision ID: 0009_check_seals_review_copies
Revises: 0008_takedown_review
Create Date: 2026-11-23 15:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_check_seals_review_copies"
down_revision: str | Sequence[str] | None = "0008_takedown_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_review_copies_review_item_id_review_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_copies")),
        sa.UniqueConstraint("review_item_id", name=op.f("uq_review_copies_review_item_id")),
    )
    op.create_index("ix_review_copies_delete_after", "review_copies", ["delete_after"], unique=False)
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("sealed_by_event_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seal_digest", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_checks_sealed", ["sealed_by_event_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_index("ix_checks_sealed")
        batch_op.drop_column("seal_digest")
        batch_op.drop_column("sealed_by_event_id")
    op.drop_index("ix_review_copies_delete_after", table_name="review_copies")
    op.drop_table("review_copies")
