"""The audit chain: append, verify, and detect tampering done behind the service's back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import GENESIS_HASH, audit
from moderation.cli import app as cli
from moderation.config import Settings
from moderation.kit.time import frozen_clock


def _append(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(
            session,
            actor="test",
            action="thing.change",
            subject_type="thing",
            subject_id=i,
            details={"n": i, "nested": {"b": [1, 2.5, "x"], "a": None}},
            policy_version="p1",
        )
    session.commit()


@pytest.fixture
def drop_triggers(engine: Engine) -> Iterator[Callable[[], None]]:
    """Drop the append-only triggers as an attacker with database access would; restore afterwards
    (the PostgreSQL test database is shared by the session)."""

    def drop() -> None:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
            else:
                connection.execute(text("DROP TRIGGER audit_events_no_update"))
                connection.execute(text("DROP TRIGGER audit_events_no_delete"))

    yield drop
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION moderation_reject_change()"
                )
            )


def test_chain_links_each_event_to_the_previous(session: Session) -> None:
    _append(session, 3)
    events = audit.page(session, limit=10)[::-1]
    assert [e.id for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert all(e.occurred_at.tzinfo is not None for e in events)


def test_untouched_log_verifies(session: Session) -> None:
    _append(session, 5)
    result = audit.verify(session)
    assert result.ok and result.events == 5


def test_database_rejects_update_and_delete(session: Session, engine: Engine) -> None:
    _append(session, 2)
    for statement in (
        "UPDATE audit_events SET actor = 'mallory' WHERE id = 1",
        "DELETE FROM audit_events WHERE id = 2",
    ):
        with pytest.raises(DatabaseError), engine.begin() as connection:
            connection.execute(text(statement))
    assert audit.verify(session).ok


def test_edited_row_breaks_verification_and_is_named(
    session: Session, engine: Engine, settings: Settings, drop_triggers: Callable[[], None]
) -> None:
    _append(session, 4)
    drop_triggers()
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 3"))
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 3
    session.rollback()  # SQLite admits one transaction at a time; end ours before the CLI runs

    outcome = CliRunner().invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 1
    assert "event 3" in outcome.output


def test_deleted_row_breaks_verification(
    session: Session, engine: Engine, drop_triggers: Callable[[], None]
) -> None:
    _append(session, 4)
    drop_triggers()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id = 2"))
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 3


def test_reordered_rows_break_verification(
    session: Session, engine: Engine, drop_triggers: Callable[[], None]
) -> None:
    _append(session, 3)
    drop_triggers()
    with engine.begin() as connection:
        # Swap the contents of events 1 and 2 (ids stay, so the chain order changes).
        connection.execute(text("UPDATE audit_events SET id = 100 WHERE id = 1"))
        connection.execute(text("UPDATE audit_events SET id = 1 WHERE id = 2"))
        connection.execute(text("UPDATE audit_events SET id = 2 WHERE id = 100"))
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 1


def test_cli_verify_passes_on_intact_log(session: Session, settings: Settings) -> None:
    _append(session, 2)
    session.close()
    outcome = CliRunner().invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 0, outcome.output
    assert "intact: 2 events" in outcome.output


def test_timestamps_come_from_the_service_clock(session: Session) -> None:
    at = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
    with frozen_clock(at):
        event = audit.record(session, actor="t", action="a", subject_type="s", subject_id="1")
    session.commit()
    assert event.occurred_at == at
    assert audit.verify(session).ok
