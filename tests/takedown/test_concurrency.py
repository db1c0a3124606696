"""Concurrency on PostgreSQL: intake stores each notice exactly once; two reviewers action once
(a notice, or a near-duplicate in review)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from moderation.config import Settings
from moderation.db import session_factory
from moderation.exceptions import IllegalTransition
from moderation.models.notice import Notice
from moderation.models.webhook_delivery import WebhookDelivery
from moderation.takedown.errors import CopyNotInReview
from moderation.takedown.repository import takedown_repository
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from moderation.takedown.staydown import Copy, RegisteredHashes
from tests.conftest import requires_postgres
from tests.takedown.conftest import FakeStayDown, notice_body

pytestmark = requires_postgres


def test_a_thousand_concurrent_submissions_are_each_stored_once(engine: Engine, settings: Settings) -> None:
    references = [f"ref-{i}" for i in range(1000)]
    # Every fifth reference is submitted twice, by different threads at about the same time.
    submissions = references + references[::5]
    created: list[bool] = []
    lock = threading.Lock()

    def submit(reference: str) -> int:
        body = NoticeCreate.model_validate(notice_body(client_reference=reference))
        with session_factory(engine)() as session:
            notice, was_created = takedown.submit(session, body, actor="apikey:load", settings=settings)
            session.commit()
            with lock:
                created.append(was_created)
            return int(notice.id)

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(submit, submissions))

    with session_factory(engine)() as session:
        stored = session.scalar(select(func.count()).select_from(Notice))
        distinct = session.scalar(select(func.count(func.distinct(Notice.client_reference))))
    assert stored == distinct == 1000
    assert created.count(True) == 1000 and created.count(False) == 200
    first = dict(zip(submissions[:1000], ids[:1000], strict=True))
    assert all(first[ref] == notice_id for ref, notice_id in zip(submissions[1000:], ids[1000:], strict=True))


def test_two_reviewers_actioning_at_once_produce_one_action(
    engine: Engine, settings: Settings, fake_stay_down: FakeStayDown, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_factory(engine)() as session:
        notice, _ = takedown.submit(
            session, NoticeCreate.model_validate(notice_body()), actor="a", settings=settings
        )
        takedown.transition(session, notice.id, "validate", actor="a", settings=settings)
        session.commit()
        notice_id = notice.id

    # Both reviewers have read the notice as `validated` before either writes.
    barrier = threading.Barrier(2, timeout=10)
    original = takedown_repository.move_state

    def racing_move_state(*args: Any, **kwargs: Any) -> bool:
        if kwargs.get("values", {}).get("state") == "actioned":
            barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(takedown_repository, "move_state", racing_move_state)
    outcomes: list[str] = []

    def review(name: str) -> None:
        with session_factory(engine)() as session:
            try:
                takedown.action(session, notice_id, actor=name, settings=settings)
                session.commit()
                outcomes.append("actioned")
            except IllegalTransition:
                session.rollback()
                outcomes.append("409")

    threads = [threading.Thread(target=review, args=(f"reviewer-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "actioned"]
    with session_factory(engine)() as session:
        deliveries = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.notice_id == notice_id)
        )
    assert deliveries == 1


def test_two_reviewers_removing_the_same_copy_produce_one_removal(
    engine: Engine, settings: Settings, fake_stay_down: FakeStayDown, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", "a" * 64, "f" * 64)
    fake_stay_down.copies = [Copy("c-7", "c" * 64, "e" + "f" * 63, 4, identical=False)]
    with session_factory(engine)() as session:
        notice, _ = takedown.submit(
            session, NoticeCreate.model_validate(notice_body()), actor="a", settings=settings
        )
        takedown.transition(session, notice.id, "validate", actor="a", settings=settings)
        takedown.action(session, notice.id, actor="a", settings=settings)
        [copy] = takedown.copies_in_review(session, notice.id)
        session.commit()
        notice_id, copy_id = notice.id, copy["id"]

    # Both reviewers have read the copy as `review` before either writes.
    barrier = threading.Barrier(2, timeout=10)
    original = takedown_repository.move_content_state

    def racing_move(*args: Any, **kwargs: Any) -> bool:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(takedown_repository, "move_content_state", racing_move)
    outcomes: list[str] = []

    def review(name: str) -> None:
        with session_factory(engine)() as session:
            try:
                takedown.remove_copy(session, notice_id, copy_id, actor=name, settings=settings)
                session.commit()
                outcomes.append("removed")
            except CopyNotInReview:
                session.rollback()
                outcomes.append("409")

    threads = [threading.Thread(target=review, args=(f"reviewer-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "removed"]
    with session_factory(engine)() as session:
        deliveries = session.scalars(
            select(WebhookDelivery.idempotency_key).where(WebhookDelivery.notice_content_id == copy_id)
        ).all()
    assert deliveries == [f"notice-{notice_id}/content-{copy_id}/remove"]
    assert fake_stay_down.removed.count("c-7") == 1
