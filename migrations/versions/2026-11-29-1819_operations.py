"""Operations: request ids on audit events and outbox rows, and a per-job run record

An expand-only migration (new nullable columns and a new table): the previous release keeps serving
while it runs and afterwards, because it neither reads nor writes what is added here.

Revision ID: 0020_operations
Revises: 0010_bank_entry_value_prefix
Create Date: 2026-11-29 18:19:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_operations"
down_revision: str | Sequence[str] | None = "0010_bank_entry_value_prefix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUEST_ID_TABLES = ("audit_events", "email_messages", "webhook_deliveries")


def upgrade() -> None:
    for table in REQUEST_ID_TABLES:
        op.add_column(table, sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_worker", sa.String(length=200), nullable=True),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    for table in REQUEST_ID_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_id")
