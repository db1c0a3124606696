"""CyberTipline report cases, files and links of later matches (mandatory reporting, issue 22)

`report_cases`: one per child-safety bank match or notice, with the submission's progress (NCMEC report
id, the pending API step) and the one-year preservation; `report_files`: each file's hashes, encrypted
bytes and whether a person viewed it; `report_links`: later matches of a case's file.

Revision ID: 0025_cybertip
Revises: 0022_check_video
Create Date: 2026-11-29 21:07:52.196865+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025_cybertip"
down_revision: str | Sequence[str] | None = "0022_check_video"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("incident_type", sa.String(length=100), nullable=False),
        sa.Column("incident_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("urls", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("additional_info", sa.Text(), nullable=True),
        sa.Column("escalate_reason", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("environment", sa.String(length=12), nullable=True),
        sa.Column("ncmec_report_id", sa.BigInteger(), nullable=True),
        sa.Column("pending_step", sa.String(length=40), nullable=True),
        sa.Column("report_xml", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column(
            "retracted_report_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("last_error_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("preserve_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_hold_note", sa.Text(), nullable=True),
        sa.Column(
            "destruction_request", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismissed_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_cases")),
        sa.UniqueConstraint("source", "source_id", name="uq_report_cases_source_source_id"),
    )
    with op.batch_alter_table("report_cases", schema=None) as batch_op:
        batch_op.create_index("ix_report_cases_state_id", ["state", "id"], unique=False)

    op.create_table(
        "report_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("media_type", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("uploader_id", sa.String(length=200), nullable=True),
        sa.Column("original_file_name", sa.String(length=2056), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("upload_ip", sa.String(length=64), nullable=True),
        sa.Column("location_url", sa.String(length=2083), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("viewed_by", sa.String(length=200), nullable=True),
        sa.Column("ncmec_file_id", sa.String(length=200), nullable=True),
        sa.Column("ncmec_md5", sa.String(length=64), nullable=True),
        sa.Column("details_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["report_cases.id"], name=op.f("fk_report_files_case_id_report_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_files")),
    )
    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.create_index("ix_report_files_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_report_files_md5", ["md5"], unique=False)
        batch_op.create_index("ix_report_files_sha256", ["sha256"], unique=False)

    op.create_table(
        "report_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_id", sa.String(length=200), nullable=True),
        sa.Column("uploader_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["report_cases.id"], name=op.f("fk_report_links_case_id_report_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_links")),
        sa.UniqueConstraint("source", "source_id", name="uq_report_links_source_source_id"),
    )
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_links_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_links_case_id"))

    op.drop_table("report_links")
    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.drop_index("ix_report_files_sha256")
        batch_op.drop_index("ix_report_files_md5")
        batch_op.drop_index("ix_report_files_case_id")

    op.drop_table("report_files")
    with op.batch_alter_table("report_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_report_cases_state_id")

    op.drop_table("report_cases")
