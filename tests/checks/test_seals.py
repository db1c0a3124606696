"""Seals over stored checks: every decision (allow included) is provable from the audit log."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import audit
from moderation.checks import seals as check_service
from moderation.checks.repository import checks_repository
from moderation.checks.seals import check_seals
from moderation.checks.tasks import seal_decisions
from moderation.cli import app
from moderation.config import Settings
from moderation.db import session_factory
from moderation.models.audit_event import AuditEvent
from moderation.models.check import Check
from tests.factories import bank_image, jpeg, post_check

Auth = Callable[[str], dict[str, str]]
runner = CliRunner()


def _checks(client: TestClient, auth: Auth, seeds: range) -> list[dict[str, Any]]:
    bodies = [post_check(client, auth("checker"), jpeg(seed)).json() for seed in seeds]
    assert all(b["decision"] == "allow" for b in bodies), bodies
    return bodies


def _verify(engine: Engine) -> check_service.SealReport:
    with session_factory(engine)() as session:
        return check_seals.verify(session)


def _seal_events(engine: Engine) -> list[AuditEvent]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "checks.sealed").order_by(AuditEvent.id)
            )
        )


def test_allowed_checks_are_sealed_in_batches_and_verify(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    bodies = _checks(client, auth, range(1, 6))
    # Allow decisions get no audit event of their own: the seal is what makes them provable.
    assert _seal_events(engine) == []
    run = seal_decisions(engine, settings=settings, batch_size=2)
    assert [(s.first_id, s.last_id, s.count) for s in run.seals] == [
        (bodies[0]["check_id"], bodies[1]["check_id"], 2),
        (bodies[2]["check_id"], bodies[3]["check_id"], 2),
        (bodies[4]["check_id"], bodies[4]["check_id"], 1),
    ]
    events = _seal_events(engine)
    assert [e.details["count"] for e in events] == [2, 2, 1]
    assert events[0].actor == "system:checks.seal_decisions" and events[0].details["decisions"] == {
        "allow": 2
    }
    report = _verify(engine)
    assert report.ok and report.batches == 3 and report.sealed == 5 and report.unsealed == 0
    with session_factory(engine)() as session:
        assert audit.verify(session).ok


def test_sealing_again_is_a_no_op(client: TestClient, auth: Auth, engine: Engine, settings: Settings) -> None:
    _checks(client, auth, range(10, 13))
    assert seal_decisions(engine, settings=settings).sealed == 3
    again = seal_decisions(engine, settings=settings)
    assert again.sealed == 0 and again.seals == [] and len(_seal_events(engine)) == 1
    # New checks go into a new batch; old ones are not sealed twice.
    _checks(client, auth, range(13, 14))
    assert seal_decisions(engine, settings=settings).sealed == 1
    assert [e.details["count"] for e in _seal_events(engine)] == [3, 1]


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE checks SET decision = 'block' WHERE id = :id",
        "UPDATE checks SET reasons = '[]' WHERE id = :id",
        "UPDATE checks SET policy_version = 'forged' WHERE id = :id",
        "UPDATE checks SET sha256 = '" + "0" * 64 + "' WHERE id = :id",
    ],
)
def test_altering_a_sealed_check_is_detected_and_named(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings, tamper: str
) -> None:
    bank_image(engine, "watch", jpeg(21), action="review")  # one check with reasons in the batch
    with_reason = post_check(client, auth("checker"), jpeg(21)).json()
    bodies = _checks(client, auth, range(22, 24))
    seal_decisions(engine, settings=settings)
    target = with_reason["check_id"] if "reasons" in tamper else bodies[1]["check_id"]
    with engine.begin() as connection:
        connection.execute(text(tamper), {"id": target})
    report = _verify(engine)
    assert not report.ok and report.check_id == target
    assert report.event_id == _seal_events(engine)[0].id
    result = runner.invoke(app, ["checks", "verify"])
    assert result.exit_code == 1
    assert f"error [check_seal_broken]: check {target}" in result.output


def test_removing_a_check_from_its_batch_is_detected(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    bodies = _checks(client, auth, range(30, 33))
    seal_decisions(engine, settings=settings)
    with engine.begin() as connection:
        # Unsealing and editing a check (to hide it from the batch) breaks the batch's count.
        connection.execute(
            text("UPDATE checks SET sealed_by_event_id = NULL, decision = 'block' WHERE id = :id"),
            {"id": bodies[1]["check_id"]},
        )
    report = _verify(engine)
    assert not report.ok and "3 checks; 2 are marked" in (report.reason or "")


def test_rewriting_the_stored_digest_too_still_fails_the_batch(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    bodies = _checks(client, auth, range(40, 42))
    seal_decisions(engine, settings=settings)
    target = bodies[0]["check_id"]
    with engine.begin() as connection:
        connection.execute(text("UPDATE checks SET decision = 'block' WHERE id = :id"), {"id": target})
    with session_factory(engine)() as session:
        check = session.get(Check, target)
        assert check is not None
        forged = check_service.check_digest(check)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE checks SET seal_digest = :d WHERE id = :id"), {"d": forged, "id": target}
        )
    report = _verify(engine)
    assert not report.ok and "batch digest" in (report.reason or "")


def test_a_sealer_that_lost_the_race_writes_nothing(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checks(client, auth, range(50, 53))
    with session_factory(engine)() as session:
        stale = checks_repository.unsealed(session, 10)  # what a second worker read before the first won
        session.expunge_all()
    assert seal_decisions(engine, settings=settings).sealed == 3
    monkeypatch.setattr(checks_repository, "unsealed", lambda session, limit: stale)
    run = seal_decisions(engine, settings=settings)
    assert run.conflicts == 1 and run.sealed == 0
    assert len(_seal_events(engine)) == 1  # the loser's audit event was rolled back with its claim
    monkeypatch.undo()
    assert _verify(engine).ok


def test_two_sealers_at_once_seal_each_check_exactly_once(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    bodies = _checks(client, auth, range(60, 68))
    errors: list[BaseException] = []
    runs: list[Any] = []

    def sealer() -> None:
        try:
            for _ in range(20):
                runs.append(seal_decisions(engine, settings=settings, batch_size=1))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(run.sealed for run in runs) == len(bodies)
    events = _seal_events(engine)
    assert sum(e.details["count"] for e in events) == len(bodies)
    report = _verify(engine)
    assert report.ok and report.sealed == len(bodies)
    with session_factory(engine)() as session:
        assert audit.verify(session).ok


def test_seal_and_verify_commands_and_the_worker_job(
    client: TestClient, auth: Auth, session: Session
) -> None:
    _checks(client, auth, range(70, 72))
    result = runner.invoke(app, ["checks", "verify"])
    assert result.exit_code == 0 and "ok: 0 checks in 0 sealed batches; 2 not sealed yet" in result.output
    result = runner.invoke(app, ["checks", "seal", "--batch-size", "1"])
    assert result.exit_code == 0 and "2 checks sealed in 2 batches" in result.output
    _checks(client, auth, range(72, 73))
    result = runner.invoke(app, ["worker", "--job", "checks.seal_decisions"])
    assert result.exit_code == 0 and "sealed=1" in result.output, result.output
    result = runner.invoke(app, ["checks", "verify"])
    assert result.exit_code == 0 and "ok: 3 checks in 3 sealed batches; 0 not sealed yet" in result.output
