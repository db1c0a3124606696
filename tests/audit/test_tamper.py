"""Rewriting the audit log with database access (issue 11, finding 4): a re-sealed chain, a REPLACE
and a truncated tail are all detected; the keyed MAC and exported checkpoints make the difference."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit import tasks as audit_tasks
from moderation.audit.checkpoints import Checkpoint
from moderation.audit.service import audit, canonical_hash
from moderation.cli import app as cli
from moderation.config import Settings
from moderation.jobs import JobContext


def _append(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(
            session,
            actor="alice",
            action="notice.action",
            subject_type="notice",
            subject_id=i,
            details={"n": i},
        )
    session.commit()


@pytest.fixture
def attacker(engine: Engine) -> Iterator[Callable[[], None]]:
    """Switch the append-only triggers off as the table's owner can (restored for the shared PG db)."""

    def disable() -> None:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            else:
                for name in ("no_update", "no_delete", "no_replace"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS audit_events_{name}"))

    yield disable
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


def _reseal(engine: Engine, from_id: int) -> None:
    """Recompute every hash from `from_id` on, as anyone who read the source code can."""
    with engine.begin() as connection:
        rows = connection.execute(
            text("SELECT * FROM audit_events WHERE id >= :id ORDER BY id"), {"id": from_id}
        ).mappings()
        prev = connection.execute(
            text("SELECT hash FROM audit_events WHERE id = :id"), {"id": from_id - 1}
        ).scalar_one()
        for row in list(rows):
            details = row["details"] if isinstance(row["details"], dict) else json.loads(row["details"])
            new_hash = canonical_hash(
                id=row["id"],
                occurred_at=_aware(row["occurred_at"]),
                actor=row["actor"],
                action=row["action"],
                subject_type=row["subject_type"],
                subject_id=row["subject_id"],
                policy_version=row["policy_version"],
                details=details,
                prev_hash=prev,
            )
            connection.execute(
                text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": prev, "h": new_hash, "id": row["id"]},
            )
            prev = new_hash


def _aware(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _checkpoint(tmp_path: Path) -> Path:
    outcome = CliRunner().invoke(cli, ["audit", "checkpoint", "--out", str(tmp_path / "cp.json")])
    assert outcome.exit_code == 0, outcome.output
    return tmp_path / "cp.json"


def test_resealed_rewrite_fails_verification(
    session: Session, engine: Engine, attacker: Callable[[], None], tmp_path: Path
) -> None:
    _append(session, 5)
    attacker()
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 3"))
    _reseal(engine, 3)
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 3 and "MAC" in (result.reason or "")
    session.rollback()
    outcome = CliRunner().invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 1 and "event 3" in outcome.output


def test_stripping_the_macs_fails_verification(
    session: Session, engine: Engine, attacker: Callable[[], None]
) -> None:
    _append(session, 3)
    attacker()
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET mac = NULL"))
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 1 and "no MAC" in (result.reason or "")
    # An operator who upgraded from an unkeyed log names how many events predate the key.
    assert audit.verify(session, unkeyed_events=3).ok


def test_replace_and_upsert_are_refused_by_the_database(session: Session, engine: Engine) -> None:
    _append(session, 3)
    columns = "id, occurred_at, actor, action, subject_type, subject_id, details, prev_hash, hash, mac"
    values = "2, '2026-01-01 00:00:00', 'mallory', 'x', 'notice', '1', '{}', 'p', 'forged', NULL"
    statements = [
        f"INSERT INTO audit_events ({columns}) VALUES ({values}) "
        "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'"
    ]
    if engine.dialect.name == "sqlite":
        statements += [
            f"INSERT OR REPLACE INTO audit_events ({columns}) VALUES ({values})",
            f"REPLACE INTO audit_events ({columns}) VALUES ({values})",
        ]
    for statement in statements:
        with pytest.raises(DatabaseError), engine.begin() as connection:
            connection.execute(text(statement))
    session.expire_all()
    assert audit.verify(session).ok
    assert [e.actor for e in audit.page(session)] == ["alice"] * 3


def test_replace_with_triggers_gone_is_still_detected(
    session: Session, engine: Engine, attacker: Callable[[], None]
) -> None:
    _append(session, 3)
    attacker()
    with engine.begin() as connection:
        row = connection.execute(text("SELECT * FROM audit_events WHERE id = 2")).mappings().one()
        connection.execute(text("DELETE FROM audit_events WHERE id = 2"))
        connection.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, actor, action, subject_type, subject_id, "
                "policy_version, details, prev_hash, hash, mac) VALUES (:id, :o, 'mallory', :a, :st, :si, "
                ":pv, :d, :p, 'x', :m)"
            ),
            {
                "id": 2,
                "o": row["occurred_at"],
                "a": row["action"],
                "st": row["subject_type"],
                "si": row["subject_id"],
                "pv": row["policy_version"],
                "d": row["details"] if isinstance(row["details"], str) else json.dumps(row["details"]),
                "p": row["prev_hash"],
                "m": row["mac"],
            },
        )
    _reseal(engine, 2)
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == 2


def test_truncated_tail_fails_against_the_last_checkpoint(
    session: Session, engine: Engine, attacker: Callable[[], None], tmp_path: Path
) -> None:
    _append(session, 6)
    session.close()
    checkpoint = _checkpoint(tmp_path)
    assert CliRunner().invoke(cli, ["audit", "verify", "--checkpoint", str(checkpoint)]).exit_code == 0
    attacker()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id > 4"))
    outcome = CliRunner().invoke(cli, ["audit", "verify"])
    assert outcome.exit_code == 0  # a shorter chain is still a valid chain ...
    outcome = CliRunner().invoke(cli, ["audit", "verify", "--checkpoint", str(checkpoint)])
    assert (
        outcome.exit_code == 1 and "removed from the tail" in outcome.output
    )  # ... but not the exported one


def test_forged_checkpoint_is_refused(session: Session, tmp_path: Path) -> None:
    _append(session, 2)
    session.close()
    path = _checkpoint(tmp_path)
    raw = json.loads(path.read_text())
    raw["id"] = 1
    path.write_text(json.dumps(raw))
    outcome = CliRunner().invoke(cli, ["audit", "verify", "--checkpoint", str(path)])
    assert outcome.exit_code == 2 and "signature" in outcome.output


def test_verifying_with_another_key_fails(session: Session) -> None:
    _append(session, 2)
    assert audit.verify(session).ok
    assert not audit.verify(session, key=b"someone else's key").ok


def test_export_job_writes_signed_checkpoints_once_per_head(
    session: Session, settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[dict[str, Any]] = []

    class Receiver:
        status_code = 200

        def raise_for_status(self) -> None:
            return None

    def fake_post(url: str, content: str, **_: Any) -> Receiver:
        posted.append({"url": url, "body": json.loads(content)})
        return Receiver()

    monkeypatch.setattr(audit_tasks.httpx, "post", fake_post)
    monkeypatch.setattr(audit_tasks, "_last_export", {})
    configured = settings.model_copy(
        update={
            "audit_checkpoint_dir": tmp_path / "checkpoints",
            "audit_checkpoint_webhook_url": "https://keeper.example/audit",
            "audit_checkpoint_interval_seconds": 0,
        }
    )
    ctx = JobContext(name="audit.export_checkpoint", engine=engine, settings=configured, worker_id="w")
    _append(session, 3)
    first = audit_tasks.export_checkpoint(ctx)
    assert first["exported"] and first["id"] == 3
    kept = Checkpoint.parse((tmp_path / "checkpoints" / "latest.json").read_text(), settings.audit_mac_key)
    assert kept.id == 3 and posted[0]["body"]["id"] == 3
    assert audit_tasks.export_checkpoint(ctx) == {"exported": False}  # head unchanged
    _append(session, 1)
    assert audit_tasks.export_checkpoint(ctx)["id"] == 4
    assert (tmp_path / "checkpoints" / "checkpoint-000000000004.json").exists()
    assert len(posted) == 2
    assert audit.verify(session, checkpoint=kept).ok
