"""Bank entries: an integer `value_prefix` key replaces the text index on `value`

`value_prefix` is the first 8 bytes of the hash value (its first 16 hex digits) as a signed big-endian
64-bit integer, the same rule for every hash type. Lookups by value filter on `value_prefix` and
`value`; the index (bank_id, hash_type, value_prefix) replaces the text index on `value`, whose
random-order inserts bounded bulk import speed. Existing rows are backfilled in id-range batches.

Revision ID: 0010_bank_entry_value_prefix
Revises: 0009_check_seals_review_copies
Create Date: 2026-11-23 16:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_bank_entry_value_prefix"
down_revision: str | Sequence[str] | None = "0009_check_seals_review_copies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_BATCH = 50_000


def _prefix(value: str) -> int:
    return int.from_bytes(bytes.fromhex(value[:16]), "big", signed=True)


def _backfill() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        compute = "('x' || substr(value, 1, 16))::bit(64)::bigint"
    else:
        # SQLite has no hex-to-integer function: register the rule on this connection for the update.
        bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "moderation_value_prefix", 1, _prefix, deterministic=True
        )
        compute = "moderation_value_prefix(value)"
    low, high = bind.execute(sa.text("SELECT min(id), max(id) FROM bank_entries")).one()
    if low is None:
        return
    for start in range(int(low), int(high) + 1, BACKFILL_BATCH):
        bind.execute(
            sa.text(f"UPDATE bank_entries SET value_prefix = {compute} WHERE id >= :lo AND id < :hi"),
            {"lo": start, "hi": start + BACKFILL_BATCH},
        )


def upgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_prefix", sa.BigInteger(), nullable=True))
    _backfill()
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_value")
        batch_op.alter_column("value_prefix", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(
            "ix_bank_entries_bank_id_hash_type_value_prefix",
            ["bank_id", "hash_type", "value_prefix"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_bank_id_hash_type_value_prefix")
        batch_op.create_index("ix_bank_entries_value", ["value"], unique=False)
        batch_op.drop_column("value_prefix")
