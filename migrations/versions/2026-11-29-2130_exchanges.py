"""Hash exchanges: exchange configuration, per-entry provenance and the feedback outbox

`exchanges` holds each configured exchange (type, target bank, non-secret settings, the library's
checkpoint as JSON, fetch lease and counters); credentials are never stored, only read from the
credentials file by exchange name. `exchange_records` maps each exchange record to the bank entries it
filled. `exchange_feedback` is the outbox of feedback (StopNCII, NCMEC, ThreatExchange) to send.

Revision ID: 0024_exchanges
Revises: 0025_cybertip
Create Date: 2026-11-29 21:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024_exchanges"
down_revision: str | Sequence[str] | None = "0025_cybertip"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
ENTRY_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("signal_types", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("feedback_enabled", sa.Boolean(), nullable=False),
        sa.Column("confirmations_required", sa.Integer(), nullable=False),
        sa.Column("promote_bank_id", sa.Integer(), nullable=True),
        sa.Column("checkpoint", JSON, nullable=True),
        sa.Column("fetching_by", sa.String(200), nullable=True),
        sa.Column("fetch_lease_until", TS, nullable=True),
        sa.Column("last_fetch_started_at", TS, nullable=True),
        sa.Column("last_fetch_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("records_seen", sa.Integer(), nullable=False),
        sa.Column("entries_added", sa.Integer(), nullable=False),
        sa.Column("entries_removed", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_exchanges_bank_id_banks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["promote_bank_id"], ["banks.id"], name=op.f("fk_exchanges_promote_bank_id_banks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("name", name=op.f("uq_exchanges_name")),
    )
    op.create_table(
        "exchange_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("signal_type", sa.String(30), nullable=False),
        sa.Column("hash_type", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("entry_id", ENTRY_ID, nullable=False),
        sa.Column("opinions", JSON, nullable=False),
        sa.Column("summary", sa.String(500), nullable=True),
        sa.Column("first_fetched_at", TS, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        sa.Column("reviewed", sa.Integer(), nullable=False),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("overturns", sa.Integer(), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_records_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_records")),
        sa.UniqueConstraint(
            "exchange_id",
            "record_key",
            "hash_type",
            "value",
            name=op.f("uq_exchange_records_exchange_id_record_key_hash_type_value"),
        ),
    )
    op.create_index("ix_exchange_records_entry_id", "exchange_records", ["entry_id"])
    op.create_table(
        "exchange_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(400), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        sa.Column("signal_type", sa.String(30), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("opinion", sa.String(10), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_feedback_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_feedback")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_exchange_feedback_dedup_key")),
    )
    op.create_index(
        "ix_exchange_feedback_state_next_attempt_at", "exchange_feedback", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_feedback_state_next_attempt_at", table_name="exchange_feedback")
    op.drop_table("exchange_feedback")
    op.drop_index("ix_exchange_records_entry_id", table_name="exchange_records")
    op.drop_table("exchange_records")
    op.drop_table("exchanges")
