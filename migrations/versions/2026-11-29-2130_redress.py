"""Redress: appeals against checks and notice decisions, DMCA counter-notices, events in the webhook outbox

`appeals` holds each complaint against a block (pre-publish or stay-down), a removal or a rejected
notice, with its clock and the human decision; `counter_notices` each 512(g) counter-notice with its
restore window. `webhook_deliveries.notice_id` and `notice_content_id` become optional so the one
webhook outbox also carries events that are not about a notice's content (an appeal's restore).

Revision ID: 0023_redress
Revises: 0024_exchanges
Create Date: 2026-11-29 21:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023_redress"
down_revision: str | Sequence[str] | None = "0024_exchanges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def _webhook_targets_nullable(nullable: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("webhook_deliveries", "notice_id", existing_type=sa.Integer(), nullable=nullable)
        op.alter_column(
            "webhook_deliveries", "notice_content_id", existing_type=sa.Integer(), nullable=nullable
        )
        return
    # SQLite rebuilds the table; with foreign keys on, dropping the old one would cascade to
    # webhook_attempts, so the attempts are kept aside and put back.
    op.execute("CREATE TEMP TABLE redress_kept_attempts AS SELECT * FROM webhook_attempts")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column("notice_id", existing_type=sa.Integer(), nullable=nullable)
        batch_op.alter_column("notice_content_id", existing_type=sa.Integer(), nullable=nullable)
    op.execute(
        "INSERT INTO webhook_attempts SELECT * FROM redress_kept_attempts "
        "WHERE id NOT IN (SELECT id FROM webhook_attempts)"
    )
    op.execute("DROP TABLE redress_kept_attempts")


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_reference", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("appellant_role", sa.String(length=10), nullable=False),
        sa.Column("appellant", JSON, nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("decided_at_original", WHEN, nullable=False),
        sa.Column("original_decider", sa.String(length=200), nullable=True),
        sa.Column("filed_at", WHEN, nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("overdue_alerted_at", WHEN, nullable=True),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("reversal", JSON, nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_appeals_check_id_checks")),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name=op.f("fk_appeals_notice_id_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("client_reference", name=op.f("uq_appeals_client_reference")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index("ix_appeals_state_due_at", ["state", "due_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_check_id"), ["check_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_notice_id"), ["notice_id"], unique=False)
    op.create_table(
        "counter_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_reference", sa.String(length=200), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("elements", JSON, nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("restore_from", WHEN, nullable=False),
        sa.Column("restore_by", WHEN, nullable=False),
        sa.Column("window_alerted_at", WHEN, nullable=True),
        sa.Column("court_action_at", WHEN, nullable=True),
        sa.Column("court_action_note", sa.Text(), nullable=True),
        sa.Column("restored_at", WHEN, nullable=True),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_counter_notices_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_notices")),
        sa.UniqueConstraint("client_reference", name=op.f("uq_counter_notices_client_reference")),
    )
    with op.batch_alter_table("counter_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_counter_notices_state_restore_from", ["state", "restore_from", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_counter_notices_notice_id"), ["notice_id"], unique=False)
    _webhook_targets_nullable(True)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE notice_id IS NULL OR notice_content_id IS NULL")
    _webhook_targets_nullable(False)
    op.drop_table("counter_notices")
    op.drop_table("appeals")
