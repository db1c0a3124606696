"""`statements.submit_pending` against a local fake of the Transparency Database: batches of at most
100, an outage with backoff, a worker killed mid-batch, a rejected statement isolated from its batch,
a puid the database already holds; nothing lost, nothing stored twice, no personal data sent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.kit.time import set_clock, utc_now
from moderation.models.audit_event import AuditEvent
from moderation.models.statement import Statement
from moderation.models.statement_submission import StatementSubmission
from moderation.statements.client import Answer, TransparencyClient
from moderation.statements.tasks import submit_pending
from tests.factories import jpeg
from tests.statements.conftest import Auth, bank_image, check
from tests.statements.fake_tdb import FakeTransparencyDatabase


def _blocked(client: TestClient, auth: Auth, engine: Engine, count: int) -> list[str]:
    """`count` statements from real checks: the same banked image under `count` content ids."""
    bank_image(engine, "known-bad", jpeg(81))
    puids = []
    for i in range(count):
        body = check(client, auth, jpeg(81), content_id=f"item-{i}", uploader_id=f"alice-{i}@example.org")
        puids.append(body["statement"]["puid"])
    return puids


def _configured(settings: Settings, fake: FakeTransparencyDatabase, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"transparency_api_url": fake.url, "transparency_api_token": fake.token, **extra}
    )


def _states(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(Statement.puid, StatementSubmission.state).join(
            StatementSubmission, StatementSubmission.statement_id == Statement.id
        )
    ).all()
    session.rollback()
    return {str(puid): str(state) for puid, state in rows if puid}


def _posts(fake: FakeTransparencyDatabase) -> list[tuple[str, str, int]]:
    return [entry for entry in fake.log if entry[0] == "POST"]


def test_nothing_is_sent_unless_configured(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    _blocked(app_client, auth, engine, 1)
    run = submit_pending(engine, settings=settings)
    assert run.skipped_reason and run.claimed == 0


def test_batches_of_at_most_100_each_statement_stored_once_without_personal_data(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 130)
    configured = _configured(settings, tdb)
    first = submit_pending(engine, settings=configured)
    assert first.claimed == 100 and first.submitted == 100
    second = submit_pending(engine, settings=configured)
    assert second.claimed == 30 and second.submitted == 30
    assert [path for _, path, _ in _posts(tdb)] == ["/api/v1/statements", "/api/v1/statements"]
    assert sorted(tdb.stored) == sorted(puids)
    assert set(_states(session).values()) == {"submitted"}
    sent = json.dumps(list(tdb.stored.values())).lower()
    assert "alice" not in sent and "@" not in sent
    # The database's answer is kept: the permalink of each statement.
    row = session.scalars(select(StatementSubmission)).first()
    assert row is not None and row.permalink and row.database_uuid
    assert submit_pending(engine, settings=configured).claimed == 0


def test_an_outage_is_retried_with_backoff_and_nothing_is_sent_twice(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 3)
    configured = _configured(settings, tdb, transparency_retry_base_seconds=60.0)
    tdb.outage = 1
    down = submit_pending(engine, settings=configured)
    assert down.retrying == 3 and tdb.stored == {}
    row = session.scalars(select(StatementSubmission)).first()
    assert row is not None and row.last_error and "503" in row.last_error
    assert timedelta(seconds=59) < row.next_attempt_at - utc_now() <= timedelta(seconds=61)
    session.rollback()
    assert submit_pending(engine, settings=configured).claimed == 0  # not due yet

    set_clock(offset=timedelta(seconds=61))
    tdb.outage = 1  # still down: the first puid look-up fails, that row waits twice as long
    again = submit_pending(engine, settings=configured)
    assert again.retrying == 1 and again.submitted == 2
    waiting = session.scalars(select(StatementSubmission).where(StatementSubmission.state == "pending")).one()
    assert waiting.attempts == 2
    assert timedelta(seconds=119) < waiting.next_attempt_at - utc_now() <= timedelta(seconds=121)
    session.rollback()

    set_clock(offset=timedelta(seconds=61 + 121))
    assert submit_pending(engine, settings=configured).submitted == 1
    assert sorted(tdb.stored) == sorted(puids)
    assert set(_states(session).values()) == {"submitted"}


class _KilledAfterSending(TransparencyClient):
    """The batch reaches the database, then the worker dies before it can record the answer."""

    def submit_batch(self, statements: list[dict[str, Any]]) -> Answer:
        super().submit_batch(statements)
        raise SystemExit("worker killed")


def test_a_worker_killed_mid_batch_leaves_nothing_lost_and_nothing_sent_twice(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 5)
    configured = _configured(settings, tdb, transparency_lease_seconds=300.0)
    killed = _KilledAfterSending(tdb.url, tdb.token)
    try:
        submit_pending(engine, settings=configured, client=killed)
        raise AssertionError("the worker should have died")
    except SystemExit:
        pass
    assert sorted(tdb.stored) == sorted(puids)
    assert set(_states(session).values()) == {"sending"}
    assert submit_pending(engine, settings=configured).claimed == 0  # the lease still holds

    set_clock(offset=timedelta(seconds=301))
    posts_before = len(_posts(tdb))
    recovered = submit_pending(engine, settings=configured)
    assert recovered.already_there == 5 and recovered.submitted == 0
    assert len(_posts(tdb)) == posts_before  # only puid look-ups, no second submission
    assert set(_states(session).values()) == {"submitted"}
    assert len(tdb.stored) == 5


def test_a_rejected_statement_is_isolated_and_kept_with_the_reasons(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 4)
    tdb.reject_puids = {puids[2]}
    run = submit_pending(engine, settings=_configured(settings, tdb))
    assert (run.submitted, run.rejected) == (3, 1)
    assert sorted(tdb.stored) == sorted(p for p in puids if p != puids[2])
    states = _states(session)
    assert states[puids[2]] == "rejected" and [states[p] for p in puids].count("submitted") == 3

    statement = session.scalars(select(Statement).where(Statement.puid == puids[2])).one()
    shown = app_client.get(f"/v1/statements/{statement.id}", headers=auth("checker")).json()
    assert shown["submission"]["state"] == "rejected"
    assert shown["submission"]["rejection"] == {"category": ["The selected category is invalid."]}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "statement.rejected")).one()
    assert event.details["puid"] == puids[2]
    # A rejected statement is not sent again by later runs.
    set_clock(offset=timedelta(days=1))
    assert submit_pending(engine, settings=_configured(settings, tdb)).claimed == 0


def test_a_batch_refused_without_naming_the_statement_is_sent_one_by_one(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 3)
    tdb.reject_puids = {puids[0]}
    tdb.anonymous_batch_errors = True
    run = submit_pending(engine, settings=_configured(settings, tdb))
    assert (run.submitted, run.rejected) == (2, 1)
    assert sorted(tdb.stored) == sorted(puids[1:])
    assert _states(session)[puids[0]] == "rejected"


def test_a_puid_the_database_already_holds_is_not_sent_again(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    puids = _blocked(app_client, auth, engine, 3)
    tdb.stored[puids[1]] = {"puid": puids[1], "uuid": "stored-earlier"}
    run = submit_pending(engine, settings=_configured(settings, tdb))
    assert (run.submitted, run.already_there) == (2, 1)
    assert tdb.stored[puids[1]]["uuid"] == "stored-earlier"
    assert set(_states(session).values()) == {"submitted"}


def test_a_refused_token_keeps_statements_pending(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    settings: Settings,
    session: Session,
    tdb: FakeTransparencyDatabase,
) -> None:
    _blocked(app_client, auth, engine, 2)
    run = submit_pending(engine, settings=_configured(settings, tdb, transparency_api_token="wrong"))
    assert run.retrying == 2 and tdb.stored == {}
    row = session.scalars(select(StatementSubmission)).first()
    assert row is not None and row.state == "pending" and row.last_error and "token" in row.last_error
