"""Real worker processes: one killed by SIGKILL in the middle of an SMTP DATA, and two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from moderation import jobs as jobs_registry
from moderation.config import PROJECT_ROOT, Settings
from moderation.db import session_factory
from moderation.email.service import outbox
from moderation.kit.time import set_clock
from moderation.models.alert import Alert
from moderation.models.email_message import EmailMessage
from moderation.worker.locks import job_lock
from moderation.worker.runner import load_jobs, run_job, run_once
from tests.conftest import requires_postgres
from tests.email.smtp_server import SMTPServer
from tests.factories import make_notice

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def worker(at: datetime, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "MODERATION_FAKE_NOW": at.isoformat(),
            "MODERATION_SMTP_TIMEOUT_SECONDS": "60",
            "MODERATION_ALERT_DIGEST_HOUR": "23",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "moderation", "worker", "--once", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(process: subprocess.Popen[bytes]) -> str:
    output, _ = process.communicate(timeout=60)
    text = output.decode()
    assert process.returncode == 0, text
    return text


def test_worker_killed_during_data_loses_nothing_and_resends_only_the_message_in_flight(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer
) -> None:
    set_clock(T0)
    # Three notices at 90%, 75% and 50% of their 48-hour clocks: three alerts to send.
    for hours in (47, 40, 30):
        make_notice(engine, mail_settings, received_at=T0 - timedelta(hours=hours))
    smtp_server.recorder.stall_seconds = 30
    process = worker(T0)
    try:
        assert smtp_server.recorder.stalled.wait(30), "the worker never reached DATA"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    smtp_server.recorder.stall_seconds = 0
    in_flight = smtp_server.received[0].message_id

    with session_factory(engine)() as session:
        states = dict(session.execute(select(EmailMessage.id, EmailMessage.state)).all())
    assert sorted(states.values()) == ["pending", "pending", "sending"]  # the killed claim is still held

    # Restarted before the lease runs out: the other two go out, the one in flight waits.
    finish(worker(T0 + timedelta(minutes=1)))
    assert len(smtp_server.wait_for(3)) == 3
    # After the lease (MODERATION_EMAIL_LEASE_SECONDS) the message in flight is sent once more.
    finish(worker(T0 + timedelta(seconds=mail_settings.email_lease_seconds + 120)))
    finish(worker(T0 + timedelta(minutes=30)))
    received = smtp_server.wait_for(4)

    counts = Counter(m.message_id for m in received)
    assert len(received) == 4 and len(counts) == 3
    # Exactly one duplicate, and it is the message that was in flight when the worker died.
    assert counts == Counter({in_flight: 2, **{m: 1 for m in counts if m != in_flight}})
    with session_factory(engine)() as session:
        messages = session.scalars(select(EmailMessage).order_by(EmailMessage.id)).all()
        assert [m.state for m in messages] == ["sent"] * 3
        resent = next(m for m in messages if f"<outbox-{m.id}." in in_flight)
        assert [a.outcome for a in outbox.attempts(session, resent.id)] == ["abandoned", "sent"]
        for other in messages:
            if other.id != resent.id:
                assert [a.outcome for a in outbox.attempts(session, other.id)] == ["sent"]


def test_two_workers_at_once_never_double_send(
    mail_settings: Settings, engine: Engine, smtp_server: SMTPServer
) -> None:
    set_clock(T0)
    for hours in (47, 46, 45, 44):
        make_notice(engine, mail_settings, received_at=T0 - timedelta(hours=hours))
    for at in (T0, T0 + timedelta(hours=5)):  # thresholds first, then every breach
        pair = [worker(at), worker(at)]
        for process in pair:
            finish(process)
    with session_factory(engine)() as session:
        alerts = session.scalars(select(Alert)).all()
        sent = session.scalars(select(EmailMessage).where(EmailMessage.state == "sent")).all()
    # The most severe threshold reached (90 %) and the breach for each of the 4 notices.
    assert len(alerts) == 8 and len(sent) == 8
    received = smtp_server.wait_for(8)
    counts = Counter(m.message_id for m in received)
    assert len(received) == 8 and set(counts.values()) == {1}


@requires_postgres
def test_a_job_whose_lock_is_held_is_skipped(mail_settings: Settings, engine: Engine) -> None:
    job = next(j for j in load_jobs() if j.name == "alerts.scan_deadlines")
    with job_lock(engine, job.name) as taken:
        assert taken
        outcome = run_job(job, engine, mail_settings, "other-worker")
        assert outcome.status == "skipped"
    assert run_job(job, engine, mail_settings, "other-worker").status == "ok"


def test_a_failing_job_does_not_stop_the_others(
    mail_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:

    jobs = load_jobs()
    broken = next(j for j in jobs if j.name == "alerts.scan_deadlines")

    def boom(_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(jobs_registry._jobs, broken.name, jobs_registry.Job(broken.name, boom, "broken"))
    outcomes = {o.name: o for o in run_once(engine, mail_settings)}
    assert outcomes["alerts.scan_deadlines"].status == "failed"
    assert "RuntimeError: boom" in (outcomes["alerts.scan_deadlines"].error or "")
    assert outcomes["email.deliver_outbox"].status == "ok"
