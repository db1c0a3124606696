"""The outbox primitive itself (`moderation.kit.outbox`), on the email table: claims with a lease,
abandoned attempts, backoff, a last attempt, late reports, and exactly one claim per attempt when two
workers race over the same rows in threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from moderation.config import Settings
from moderation.db import transaction
from moderation.email.service import EMAIL_OUTBOX, outbox
from moderation.kit.outbox import RetryPolicy
from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
POLICY = RetryPolicy(base_delay=timedelta(seconds=10), max_delay=timedelta(seconds=25), max_attempts=3)


def _enqueue(engine: Engine, n: int) -> list[int]:
    ids = []
    with transaction(engine) as session:
        for i in range(n):
            message_id = outbox.enqueue(
                session,
                key=f"primitive-{i}",
                kind="test",
                recipients=["ops@example.org"],
                subject="s",
                text_body="t",
                html_body="<p>t</p>",
                now=T0,
            )
            assert message_id is not None
            ids.append(message_id)
    return ids


def _attempts(engine: Engine, message_id: int) -> list[tuple[int, str | None, str]]:
    with transaction(engine) as session:
        rows = session.scalars(
            select(EmailAttempt).where(EmailAttempt.message_id == message_id).order_by(EmailAttempt.number)
        ).all()
        return [(a.number, a.outcome, a.worker) for a in rows]


def test_claim_lease_backoff_last_attempt_and_late_reports(engine: Engine, settings: Settings) -> None:
    [message_id] = _enqueue(engine, 1)
    with transaction(engine) as session:
        assert EMAIL_OUTBOX.due(session, T0, 10) == [(message_id, 0)]
        first = EMAIL_OUTBOX.claim(session, message_id, worker="w1", now=T0, lease=LEASE)
        assert first is not None and (first.attempt, first.resend) == (1, False)
    with transaction(engine) as session:
        # Held: neither due nor claimable by another worker until the lease runs out.
        assert EMAIL_OUTBOX.due(session, T0 + LEASE - timedelta(seconds=1), 10) == []
        assert EMAIL_OUTBOX.claim(session, message_id, worker="w2", now=T0, lease=LEASE) is None
    # w1 dies; at the end of its lease w2 takes over and its first attempt is closed as abandoned.
    later = T0 + LEASE
    with transaction(engine) as session:
        second = EMAIL_OUTBOX.claim(session, message_id, worker="w2", now=later, lease=LEASE)
        assert second is not None and (second.attempt, second.resend) == (2, True)
    with transaction(engine) as session:
        # w1 wakes up and reports a failure: it no longer owns the row, so only its attempt says so.
        assert EMAIL_OUTBOX.fail(session, first, worker="w1", now=later, error="late", policy=POLICY) == (
            None,
            None,
        )
        state, retry_at = EMAIL_OUTBOX.fail(
            session, second, worker="w2", now=later, error="refused", policy=POLICY
        )
        assert (state, retry_at) == ("pending", later + timedelta(seconds=20))  # 10 s doubled
    assert _attempts(engine, message_id) == [(1, "failed", "w1"), (2, "failed", "w2")]
    with transaction(engine) as session:
        assert (
            EMAIL_OUTBOX.claim(session, message_id, worker="w2", now=retry_at - timedelta(1), lease=LEASE)
            is None
        )
        third = EMAIL_OUTBOX.claim(session, message_id, worker="w2", now=retry_at, lease=LEASE)
        assert third is not None and third.attempt == 3
        # The third failed attempt is the last one: the row is failed, not retried.
        assert EMAIL_OUTBOX.fail(session, third, worker="w2", now=retry_at, error="x", policy=POLICY) == (
            "failed",
            None,
        )
        assert EMAIL_OUTBOX.due(session, retry_at + timedelta(days=1), 10) == []


def test_success_is_recorded_once_whoever_holds_the_row(engine: Engine, settings: Settings) -> None:
    [message_id] = _enqueue(engine, 1)
    with transaction(engine) as session:
        slow = EMAIL_OUTBOX.claim(session, message_id, worker="slow", now=T0, lease=LEASE)
    with transaction(engine) as session:
        fast = EMAIL_OUTBOX.claim(session, message_id, worker="fast", now=T0 + LEASE, lease=LEASE)
    assert slow is not None and fast is not None
    with transaction(engine) as session:
        assert EMAIL_OUTBOX.succeed(session, fast, now=T0 + LEASE) is True
        # The slow worker's server took it too: its attempt says so, the row was already sent.
        assert EMAIL_OUTBOX.succeed(session, slow, now=T0 + LEASE) is False
        row = session.get(EmailMessage, message_id)
        assert row is not None and row.state == "sent" and row.lease_expires_at is None
    assert [outcome for _, outcome, _ in _attempts(engine, message_id)] == ["sent", "sent"]


def test_backoff_doubles_and_is_capped() -> None:
    assert [POLICY.backoff(n).total_seconds() for n in (1, 2, 3, 9)] == [10, 20, 25, 25]


def test_two_workers_racing_claim_each_attempt_once(engine: Engine, settings: Settings) -> None:
    ids = _enqueue(engine, 40)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def work(worker: str) -> None:
        start.wait()
        for message_id in ids:
            with transaction(engine) as session:
                if EMAIL_OUTBOX.claim(session, message_id, worker=worker, now=T0, lease=LEASE):
                    claimed[worker].append(message_id)

    threads = [threading.Thread(target=work, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(claimed["a"] + claimed["b"]) == sorted(ids)
    for message_id in ids:
        assert len(_attempts(engine, message_id)) == 1
