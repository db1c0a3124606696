"""Audit log: a keyed MAC per event, and no REPLACE on SQLite

Adds `audit_events.mac`, the HMAC-SHA256 of each event's hash under a key the database does not hold
(MODERATION_AUDIT_KEY): whoever can write the table can still recompute the plain hash chain, but not
the MACs. Events written before this revision have no MAC; `moderation audit verify` accepts them only
up to MODERATION_AUDIT_UNKEYED_EVENTS.

On SQLite, `INSERT OR REPLACE` deletes the row it replaces without firing DELETE triggers; a BEFORE
INSERT trigger now refuses any insert whose id or hash is already present, so REPLACE cannot
overwrite an event (an UPSERT's DO UPDATE is an UPDATE, which the existing trigger refuses).

Revision ID: 0011_audit_mac
Revises: 0020_operations
Create Date: 2026-11-29 18:11:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_audit_mac"
down_revision: str | Sequence[str] | None = "0020_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("mac", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events "
            "WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id OR hash = NEW.hash) "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: REPLACE rejected'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_replace")
        # The table's append-only triggers refuse the table rebuild a column drop needs on SQLite.
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        with op.batch_alter_table("audit_events", schema=None) as batch_op:
            batch_op.drop_column("mac")
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {verb} rejected'); END"
            )
        return
    op.drop_column("audit_events", "mac")
