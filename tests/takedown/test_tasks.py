"""The action outbox job: signed delivery, retries with backoff, claims, leases and crash recovery."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.db import transaction
from moderation.kit.time import set_clock
from moderation.takedown import webhook
from moderation.takedown.outbox import action_outbox
from moderation.takedown.service import takedown
from moderation.takedown.tasks import deliver_webhooks
from tests.takedown.conftest import T0, FakeStayDown, submit
from tests.takedown.receiver import webhook_receiver

SECRET = "test-webhook-secret-0123456789"


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _actioned(session: Session, settings: Settings, content_ids: list[str]) -> int:
    notice = submit(session, settings, content={"content_ids": content_ids})
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    session.commit()
    return int(notice.id)


def _with_url(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "action_webhook_url": url,
            "action_webhook_secret": SECRET,
            "action_webhook_timeout_seconds": 5.0,
        }
    )


def test_delivery_is_signed_idempotent_and_recorded(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _actioned(session, settings, ["c-1", "c-2"])
    with webhook_receiver() as receiver:
        run = deliver_webhooks(engine, settings=_with_url(settings, receiver.url), worker="w1")
        again = deliver_webhooks(engine, settings=_with_url(settings, receiver.url), worker="w1")
    assert (run.claimed, run.delivered) == (2, 2) and again.claimed == 0
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        signature = request.headers[webhook.SIGNATURE_HEADER]
        assert webhook.verify_signature(SECRET, signature, request.body, now=int(T0.timestamp()))
        assert not webhook.verify_signature("wrong-secret", signature, request.body, now=int(T0.timestamp()))
        assert not webhook.verify_signature(SECRET, signature, request.body + b" ", now=int(T0.timestamp()))
        payload = json.loads(request.body)
        assert payload["event"] == "content.remove" and payload["notice_id"] == notice_id
        assert request.headers[webhook.IDEMPOTENCY_HEADER] == payload["idempotency_key"]
    session.expire_all()
    deliveries = takedown.detail(session, notice_id, settings).model_dump()["deliveries"]
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    assert deliveries[0]["history"][0]["outcome"] == "delivered"
    timeline = [e["action"] for e in takedown.detail(session, notice_id, settings).model_dump()["timeline"]]
    assert timeline.count("notice.action_delivered") == 2


def test_failures_retry_with_exponential_backoff(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _actioned(session, settings, ["c-1"])
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 503]
        configured = _with_url(settings, receiver.url)
        assert deliver_webhooks(engine, settings=configured).retrying == 1
        assert deliver_webhooks(engine, settings=configured).claimed == 0  # not due yet
        set_clock(T0 + timedelta(seconds=30))
        assert deliver_webhooks(engine, settings=configured).retrying == 1
        set_clock(T0 + timedelta(seconds=30 + 59))
        assert deliver_webhooks(engine, settings=configured).claimed == 0  # second delay is 60 s
        set_clock(T0 + timedelta(seconds=30 + 60))
        assert deliver_webhooks(engine, settings=configured).delivered == 1
    assert len(receiver.requests) == 3
    keys = {r.headers[webhook.IDEMPOTENCY_HEADER] for r in receiver.requests}
    assert len(keys) == 1  # the same action, never a new one
    session.expire_all()
    [delivery] = takedown.detail(session, notice_id, settings).model_dump()["deliveries"]
    assert delivery["attempts"] == 3 and delivery["state"] == "delivered"
    assert [h["status_code"] for h in delivery["history"]] == [500, 503, 200]


def test_gives_up_after_the_last_attempt(
    session: Session,
    settings: Settings,
    engine: Engine,
    fake_stay_down: FakeStayDown,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(action_outbox, "max_attempts", 2)
    notice_id = _actioned(session, settings, ["c-1"])
    configured = _with_url(settings, "http://127.0.0.1:9/unreachable")
    assert deliver_webhooks(engine, settings=configured).retrying == 1
    set_clock(T0 + timedelta(minutes=5))
    assert deliver_webhooks(engine, settings=configured).failed == 1
    session.expire_all()
    [delivery] = takedown.detail(session, notice_id, settings).model_dump()["deliveries"]
    assert delivery["state"] == "failed" and delivery["last_error"]


def test_two_workers_never_claim_the_same_attempt(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    _actioned(session, settings, ["c-1"])
    with transaction(engine) as s:
        [(delivery_id, seen)] = action_outbox.due(s, limit=10)
    with transaction(engine) as s:
        first = action_outbox.claim(
            s, delivery_id, seen_attempts=seen, worker="w1", lease=timedelta(minutes=1)
        )
    with transaction(engine) as s:
        second = action_outbox.claim(
            s, delivery_id, seen_attempts=seen, worker="w2", lease=timedelta(minutes=1)
        )
    assert first is not None and second is None


def test_a_dead_workers_claim_is_retried_after_the_lease(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _actioned(session, settings, ["c-1"])
    with transaction(engine) as s:
        [(delivery_id, seen)] = action_outbox.due(s, limit=10)
        claimed = action_outbox.claim(
            s, delivery_id, seen_attempts=seen, worker="dead", lease=timedelta(seconds=40)
        )
    assert claimed is not None  # ...and the worker dies before sending or recording anything
    with webhook_receiver() as receiver:
        configured = _with_url(settings, receiver.url)
        assert deliver_webhooks(engine, settings=configured, worker="w2").claimed == 0  # lease still held
        set_clock(T0 + timedelta(seconds=41))
        assert deliver_webhooks(engine, settings=configured, worker="w2").delivered == 1
        # The dead worker wakes up and reports: its outcome no longer owns the row.
        with transaction(engine) as s:
            assert (
                action_outbox.record(
                    s, claimed, worker="dead", ok=False, status_code=None, error="late", actor="x"
                )
                == "lost"
            )
    session.expire_all()
    [delivery] = takedown.detail(session, notice_id, settings).model_dump()["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 2
    # Abandoned when w2 took over, then the late report of the dead worker is kept on its own attempt.
    assert (delivery["history"][0]["outcome"], delivery["history"][0]["error"]) == ("error", "late")
    assert delivery["history"][1]["outcome"] == "delivered"


def test_without_a_url_actions_stay_pending(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    _actioned(session, settings, ["c-1"])
    run = deliver_webhooks(engine, settings=settings)
    assert run.claimed == 0 and run.skipped_reason
