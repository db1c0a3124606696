"""Checks, content registry and review queue.

Each pre-publish check with its hashes, decision, reasons and policy version; the content registry
(platform content ids with their hashes, and 16 multi-index PDQ keys per item as the prefilter for
near-duplicate search); the review queue.

Revision ID: 0004_checks
Revises: 0003_banks
Create Date: 2026-11-23 14:14:19.068901+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_checks"
down_revision: str | Sequence[str] | None = "0003_banks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("pdq_quality", sa.Integer(), nullable=False),
        sa.Column("phash", sa.String(length=16), nullable=False),
        sa.Column("dhash", sa.String(length=16), nullable=False),
        sa.Column("image_format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("uploader_id", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("generator_model", sa.String(length=200), nullable=True),
        sa.Column("seed", sa.String(length=100), nullable=True),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("classifier", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("timings_ms", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=True),
        sa.Column("verdict_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verdict_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
    )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index("ix_checks_cache", ["cache_key", "policy_version"], unique=False)
        batch_op.create_index("ix_checks_content_id", ["content_id"], unique=False)
        batch_op.create_index("ix_checks_sha256", ["sha256"], unique=False)

    op.create_table(
        "content_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.String(length=200), nullable=False),
        sa.Column("uploader_id", sa.String(length=200), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("pdq_quality", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=200), nullable=True),
        sa.Column("removal_notice_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_content_items_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_items")),
        sa.UniqueConstraint("content_id", "sha256", name="uq_content_items_content_id_sha256"),
    )
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.create_index("ix_content_items_md5", ["md5"], unique=False)
        batch_op.create_index("ix_content_items_sha256", ["sha256"], unique=False)

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("risk", sa.Double(), nullable=False),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_to_bank", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_review_items_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("check_id", name=op.f("uq_review_items_check_id")),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index("ix_review_items_queue", ["state", "risk", "id"], unique=False)

    op.create_table(
        "content_pdq_keys",
        sa.Column("key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["content_items.id"],
            name=op.f("fk_content_pdq_keys_content_item_id_content_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "content_item_id", name=op.f("pk_content_pdq_keys")),
    )
    with op.batch_alter_table("content_pdq_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_content_pdq_keys_content_item_id"), ["content_item_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("content_pdq_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_pdq_keys_content_item_id"))

    op.drop_table("content_pdq_keys")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_items_queue")

    op.drop_table("review_items")
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.drop_index("ix_content_items_sha256")
        batch_op.drop_index("ix_content_items_md5")

    op.drop_table("content_items")
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_index("ix_checks_sha256")
        batch_op.drop_index("ix_checks_content_id")
        batch_op.drop_index("ix_checks_cache")

    op.drop_table("checks")
