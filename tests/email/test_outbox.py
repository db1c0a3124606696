"""The outbox over a real SMTP server: dedup by key, retries with backoff, every attempt recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import session_factory, transaction
from moderation.email.service import message_id_header, outbox, retry_delay
from moderation.kit.time import set_clock
from moderation.worker.runner import run_once
from tests.email.smtp_server import SMTPServer, free_port

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def enqueue(engine: Engine, key: str, recipients: list[str] | None = None) -> int | None:
    with transaction(engine) as session:
        return outbox.enqueue(
            session,
            key=key,
            kind="test",
            recipients=recipients if recipients is not None else ["team@example.test"],
            subject=f"subject {key}",
            text_body=f"text {key}",
            html_body=f"<p>html {key}</p>",
            now=T0,
        )


def deliver(engine: Engine, settings: Settings) -> str:
    (outcome,) = run_once(engine, settings, names=["email.deliver_outbox"])
    assert outcome.status == "ok", outcome.error
    return outcome.describe()


def test_same_key_is_enqueued_once(mail_settings: Settings, engine: Engine) -> None:
    set_clock(T0)
    first = enqueue(engine, "k-1")
    assert first is not None
    assert enqueue(engine, "k-1") is None
    with session_factory(engine)() as session:
        assert len(outbox.list(session)) == 1


def test_smtp_down_then_up_delivers_once_after_recovery(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer
) -> None:
    set_clock(T0)
    smtp_server.stop()
    ids = [enqueue(engine, f"down-{i}") for i in range(3)]

    assert "sent=0 failed=1" in deliver(engine, mail_settings)  # unreachable: the rest wait for the next run
    set_clock(T0 + timedelta(seconds=10))
    deliver(engine, mail_settings)  # first message's retry is not due yet; the next one fails
    with session_factory(engine)() as session:
        messages = [outbox.get(session, i) for i in ids if i is not None]
        assert all(m is not None and m.state == "pending" and m.sent_at is None for m in messages)
        first = messages[0]
        assert (
            first is not None and first.attempts == 1 and "ConnectionRefusedError" in (first.last_error or "")
        )
        assert first.next_attempt_at == T0 + timedelta(seconds=30)  # base backoff
        (attempt,) = outbox.attempts(session, first.id)
        assert attempt.outcome == "failed" and attempt.finished_at is not None

    smtp_server.start()
    set_clock(T0 + timedelta(minutes=5))
    assert "sent=3" in deliver(engine, mail_settings)
    set_clock(T0 + timedelta(hours=2))
    assert "sent=0" in deliver(engine, mail_settings)
    received = smtp_server.wait_for(3)
    assert sorted(m.subject for m in received) == ["subject down-0", "subject down-1", "subject down-2"]
    with session_factory(engine)() as session:
        for message_id in ids:
            assert message_id is not None
            message = outbox.get(session, message_id)
            assert message is not None and message.state == "sent"
            outcomes = [a.outcome for a in outbox.attempts(session, message_id)]
            assert outcomes[-1] == "sent" and set(outcomes[:-1]) <= {"failed"}


def test_refused_message_is_retried_with_growing_backoff(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer
) -> None:
    set_clock(T0)
    settings = mail_settings.model_copy(update={"alert_to": ""})
    message_id = enqueue(engine, "nobody", recipients=[])
    assert message_id is not None
    for seconds in (0, 60, 90):  # tries at 0 s and 60 s; at 90 s the second retry (60 s later) is not due
        set_clock(T0 + timedelta(seconds=seconds))
        deliver(engine, settings)
    with session_factory(engine)() as session:
        message = outbox.get(session, message_id)
        assert message is not None and message.state == "pending" and message.attempts == 2
        assert "no recipients" in (message.last_error or "")
        assert message.next_attempt_at == T0 + timedelta(minutes=1) + timedelta(seconds=60)
    assert smtp_server.received == []


def test_retry_delay_doubles_and_is_capped(mail_settings: Settings) -> None:
    delays = [retry_delay(n, mail_settings).total_seconds() for n in (1, 2, 3, 8, 20)]
    assert delays == [30, 60, 120, 3600, 3600]


def test_message_id_is_fixed_per_row(mail_settings: Settings) -> None:
    a = message_id_header("alert:1:r:removal:0.5", 7, "alerts@moderation.test")
    assert a == message_id_header("alert:1:r:removal:0.5", 7, "alerts@moderation.test")
    assert a != message_id_header("alert:1:r:removal:0.75", 8, "alerts@moderation.test")
    assert a.startswith("<outbox-7.") and a.endswith("@moderation.test>")


def test_a_claimed_message_is_not_claimed_twice(mail_settings: Settings, engine: Engine) -> None:
    set_clock(T0)
    message_id = enqueue(engine, "race")
    assert message_id is not None
    with transaction(engine) as session:
        first = outbox.claim(session, message_id, worker="w1", now=T0, settings=mail_settings)
    with transaction(engine) as session:
        second = outbox.claim(session, message_id, worker="w2", now=T0, settings=mail_settings)
    assert first is not None and second is None
    # After the lease the message is claimable again, and the silent attempt is closed as abandoned.
    later = T0 + timedelta(seconds=mail_settings.email_lease_seconds)
    with transaction(engine) as session:
        third = outbox.claim(session, message_id, worker="w2", now=later, settings=mail_settings)
    assert third is not None and third.resend and third.attempt_number == 2
    with session_factory(engine)() as session:
        assert [a.outcome for a in outbox.attempts(session, message_id)] == ["abandoned", None]


def test_unreachable_port_is_reported_not_raised(mail_settings: Settings, engine: Engine) -> None:
    set_clock(T0)
    settings = mail_settings.model_copy(update={"smtp_port": free_port()})
    enqueue(engine, "x")
    assert "failed=1" in deliver(engine, settings)
