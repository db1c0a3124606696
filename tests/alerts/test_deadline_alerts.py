"""A notice 47 hours into a 48-hour clock: one alert (90%, the most severe reached) on the first run, the
breach an hour later; a late run sends one email per notice, never a burst per threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import Settings
from moderation.db import session_factory
from moderation.kit.time import set_clock
from moderation.models.alert import Alert
from moderation.models.audit_event import AuditEvent
from moderation.models.email_message import EmailMessage
from tests.email.smtp_server import SMTPServer
from tests.factories import REPORTER, make_notice

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
runner = CliRunner()


def worker_once(at: datetime, monkeypatch: pytest.MonkeyPatch) -> str:
    """`moderation worker --once` with the service clock at `at` (as operators and e2e tests run it)."""
    monkeypatch.setenv("MODERATION_FAKE_NOW", at.isoformat())
    from moderation.config import get_settings

    get_settings.cache_clear()
    result = runner.invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def test_47h_notice_alerts_then_breach_once_each(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATION_ALERT_DIGEST_HOUR", "23")  # keep the daily digest out of this test
    set_clock(T0)
    notice_id = make_notice(engine, mail_settings, received_at=T0 - timedelta(hours=47))

    output = worker_once(T0, monkeypatch)
    assert "alerts.scan_deadlines: ok" in output and "alerts=1" in output
    (first,) = smtp_server.wait_for(1)
    assert f"notice #{notice_id}" in first.subject and "[uk-osa-intimate-image]" in first.subject
    assert first.subject.endswith("1h 00m left on removal (90% of the clock)")
    # Routed to the regime's team, not escalated: a threshold before the breach.
    assert first.envelope_to == ["ncii@example.test"]

    output = worker_once(T0 + timedelta(minutes=30), monkeypatch)
    assert "alerts=0" in output and "sent=0" in output
    assert len(smtp_server.received) == 1

    worker_once(T0 + timedelta(hours=1), monkeypatch)
    received = smtp_server.wait_for(2)
    assert len(received) == 2
    breach = received[1]
    assert f"notice #{notice_id}: OVERDUE by 0m on removal (unassigned, 1 item)" in breach.subject
    # Breaches go to the team and to the regime's escalation list (unrouted names: the default list).
    assert breach.envelope_to == ["legal@example.test", "ncii@example.test", "oncall@example.test"]

    worker_once(T0 + timedelta(hours=3), monkeypatch)
    assert len(smtp_server.received) == 2
    assert len({m.message_id for m in smtp_server.received}) == 2

    with session_factory(engine)() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        assert [a.threshold for a in alerts] == ["0.9", "breach"]
        assert all(a.email_message_id is not None for a in alerts)
        states = session.scalars(select(EmailMessage.state)).all()
        assert states == ["sent"] * 2
        audited = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("alert.%"))
        )
        assert audited == 2


def test_a_late_run_sends_one_alert_per_notice_with_how_late_and_who(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six notices whose clocks all ran out while no worker ran: six emails, each the breach, saying
    how long it is overdue, who holds it and how many items it holds (not 24 threshold emails)."""
    monkeypatch.setenv("MODERATION_ALERT_DIGEST_HOUR", "23")
    set_clock(T0)
    ids = [
        make_notice(
            engine,
            mail_settings,
            received_at=T0 - timedelta(hours=50, minutes=i),
            content={"content_ids": [f"c-{i}-{n}" for n in range(i + 1)]},
        )
        for i in range(6)
    ]
    from moderation.db import transaction
    from moderation.takedown.service import takedown

    with transaction(engine) as session:
        takedown.assign(session, ids[0], "rita", actor="test")

    output = worker_once(T0, monkeypatch)
    assert "alerts=6" in output
    received = smtp_server.wait_for(6)
    assert len(received) == 6
    by_notice = {int(m.subject.split("#", 1)[1].split(":", 1)[0]): m for m in received}
    assert sorted(by_notice) == sorted(ids)
    first = by_notice[ids[0]]
    assert "OVERDUE by 2h 00m on removal (rita, 1 item)" in first.subject
    assert "Overdue by: 2h 00m" in first.text() and "Assigned:   rita" in first.text()
    assert "Overdue by" in first.html() and "rita" in first.html()
    assert "OVERDUE by 2h 05m on removal (unassigned, 6 items)" in by_notice[ids[5]].subject
    assert all("%" not in m.subject for m in received)
    with session_factory(engine)() as session:
        assert session.scalars(select(Alert.threshold)).all() == ["breach"] * 6


def test_alert_email_content(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATION_ALERT_DIGEST_HOUR", "23")
    set_clock(T0)
    notice_id = make_notice(engine, mail_settings, received_at=T0 - timedelta(hours=25))
    worker_once(T0, monkeypatch)
    (message,) = smtp_server.wait_for(1)
    text, html = message.text(), message.html()
    for body in (text, html):
        assert "2026-11-24 11:00 UTC" in body  # due: received 2026-11-22 11:00 + 48 h
        assert "2026-11-24 11:00 GMT" in body  # the team's time zone (Europe/London)
        assert f"https://moderation.example.test/admin/notices/{notice_id}" in body
        assert "removal" in body and "statutory" in body
        assert any(state in body for state in ("received", "needs_info"))
        assert REPORTER["contact"] not in body and REPORTER["name"] not in body
    assert "23h 00m left" in message.subject
    assert message.message_id.startswith("<outbox-") and message.message_id.endswith("@moderation.test>")
    assert message.message["Content-Type"].startswith("multipart/alternative")


def test_html_escapes_notice_data(mail_settings: Settings, engine: Engine) -> None:
    from moderation.email.service import outbox

    html = outbox.render(
        "digest.html",
        team="<script>alert(1)</script>",
        date="2026-11-23",
        timezone="UTC",
        now_utc="now",
        overdue=[],
        upcoming=[],
        queue_link="https://x.test/admin/notices",
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_digest_once_per_team_per_day(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    morning = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 09:00 in London, after the 08:00 digest hour
    set_clock(morning)
    overdue = make_notice(engine, mail_settings, received_at=morning - timedelta(hours=50))
    soon = make_notice(engine, mail_settings, received_at=morning - timedelta(hours=30))
    later = make_notice(engine, mail_settings, received_at=morning)  # due in 48 h: not in the digest
    worker_once(morning, monkeypatch)
    worker_once(morning + timedelta(hours=2), monkeypatch)
    digests = [m for m in smtp_server.received if "daily digest" in m.subject]
    assert len(digests) == 1
    digest = digests[0]
    assert digest.subject == "[ncii] daily digest 2026-11-23: 1 overdue, 1 due in 24h"
    text = digest.text()
    assert f"#{overdue} " in text and f"#{soon} " in text and f"#{later} " not in text
    assert REPORTER["contact"] not in text

    worker_once(morning + timedelta(days=1), monkeypatch)
    digests = [m for m in smtp_server.received if "daily digest" in m.subject]
    assert [d.subject.split(":")[0] for d in digests] == [
        "[ncii] daily digest 2026-11-23",
        "[ncii] daily digest 2026-11-24",
    ]
