"""Statements of reasons (DSA Art. 17) and their Transparency Database submissions

`statements` is append-only in the database: triggers reject UPDATE and DELETE (and TRUNCATE on
PostgreSQL), the same function as the audit log's. Submission state lives in `statement_submissions`.

Revision ID: 0018_statements
Revises: 0011_audit_mac
Create Date: 2026-11-29 18:15:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_statements"
down_revision: str | Sequence[str] | None = "0011_audit_mac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("puid", sa.String(length=100), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("check_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("notice_content_id", sa.Integer(), nullable=True),
        sa.Column("follows_id", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("decision_ground", sa.String(length=60), nullable=False),
        sa.Column("source_type", sa.String(length=40), nullable=False),
        sa.Column("automated_detection", sa.String(length=3), nullable=False),
        sa.Column("automated_decision", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("redress", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_statements_check_id_checks")),
        sa.ForeignKeyConstraint(
            ["follows_id"], ["statements.id"], name=op.f("fk_statements_follows_id_statements")
        ),
        sa.ForeignKeyConstraint(
            ["notice_content_id"],
            ["notice_contents.id"],
            name=op.f("fk_statements_notice_content_id_notice_contents"),
        ),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name=op.f("fk_statements_notice_id_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_statements_dedup_key")),
        sa.UniqueConstraint("puid", name=op.f("uq_statements_puid")),
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index("ix_statements_content_id", ["content_id"], unique=False)
        batch_op.create_index("ix_statements_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_statements_notice_id", ["notice_id"], unique=False)
    _append_only("statements")

    op.create_table(
        "statement_submissions",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("rejection", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("database_uuid", sa.String(length=100), nullable=True),
        sa.Column("permalink", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statements.id"], name=op.f("fk_statement_submissions_statement_id_statements")
        ),
        sa.PrimaryKeyConstraint("statement_id", name=op.f("pk_statement_submissions")),
    )
    with op.batch_alter_table("statement_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statement_submissions_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # moderation_reject_change() comes with the audit log (0001_foundation).
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION moderation_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION moderation_reject_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} rejected'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS statements_append_only ON statements")
        op.execute("DROP TRIGGER IF EXISTS statements_no_truncate ON statements")
    else:
        op.execute("DROP TRIGGER IF EXISTS statements_no_update")
        op.execute("DROP TRIGGER IF EXISTS statements_no_delete")
    with op.batch_alter_table("statement_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_submissions_state_next_attempt_at")

    op.drop_table("statement_submissions")
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index("ix_statements_notice_id")
        batch_op.drop_index("ix_statements_created_at")
        batch_op.drop_index("ix_statements_content_id")

    op.drop_table("statements")
