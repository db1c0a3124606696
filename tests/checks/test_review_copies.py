"""Review copies: content that goes to review keeps an encrypted copy of its bytes for the reviewer,
read only through an audited call, deleted on an allow verdict and after a block verdict's retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import audit
from moderation.checks.errors import ReviewCopyNotFound, ReviewItemNotFound
from moderation.checks.review import review_queue
from moderation.cli import app
from moderation.config import Settings
from moderation.db import session_factory
from moderation.kit import evidence_crypto as evidence
from moderation.kit.time import frozen_clock, utc_now
from moderation.models.review_copy import ReviewCopy
from tests.admin.conftest import form_token, signed_in
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import bank_image, jpeg, post_check

Auth = Callable[[str], dict[str, str]]
runner = CliRunner()
__all__ = ["signed_in"]


def _review(client: TestClient, auth: Auth, seed: int) -> tuple[bytes, dict[str, Any]]:
    with_classifier(client, FakeClassifier({"violence_gore": 0.6}))
    data = jpeg(seed)
    body: dict[str, Any] = post_check(client, auth("checker"), data, {"content_id": f"c{seed}"}).json()
    assert body["decision"] == "review", body
    return data, body


def _copies(engine: Engine) -> list[ReviewCopy]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(ReviewCopy).order_by(ReviewCopy.id)))


def test_review_keeps_an_encrypted_copy_read_only_through_an_audited_call(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings, session: Session
) -> None:
    data, body = _review(client, auth, 1)
    (copy,) = _copies(engine)
    assert copy.review_item_id == body["review_item_id"] and copy.size == len(data)
    assert data[:64] not in copy.ciphertext and evidence.decrypt(settings, copy.ciphertext) == data
    image = review_queue.review_image(
        session, body["review_item_id"], actor="user:rita", reason="second look", settings=settings
    )
    assert image == data
    event = audit.page(session, action="review.image_read")[0]
    assert event.actor == "user:rita" and event.subject_id == str(body["review_item_id"])
    assert event.details == {
        "check_id": body["check_id"],
        "sha256": body["hashes"]["sha256"],
        "reason": "second look",
    }
    with pytest.raises(ReviewItemNotFound):
        review_queue.review_image(session, 999_999, actor="user:rita", settings=settings)


def test_allowed_and_blocked_checks_keep_no_copy(client: TestClient, auth: Auth, engine: Engine) -> None:
    assert post_check(client, auth("checker"), jpeg(2)).json()["decision"] == "allow"
    bank_image(engine, "known", jpeg(3), action="block")
    assert post_check(client, auth("checker"), jpeg(3)).json()["decision"] == "block"
    assert _copies(engine) == []


def test_allow_verdict_deletes_the_copy(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings, session: Session
) -> None:
    _, body = _review(client, auth, 4)
    item = body["review_item_id"]
    response = client.post(f"/v1/review/{item}/verdict", headers=auth("admin"), json={"verdict": "allow"})
    assert response.status_code == 200, response.text
    assert _copies(engine) == []
    assert audit.page(session, action="review.allow")[0].details["review_copy"] == "deleted"
    with pytest.raises(ReviewCopyNotFound) as raised:
        review_queue.review_image(session, item, actor="user:rita", settings=settings)
    assert raised.value.code == "review_copy_not_found" and raised.value.status == 404


def test_block_verdict_keeps_the_copy_for_the_retention_then_the_job_purges_it(
    client: TestClient, auth: Auth, engine: Engine, session: Session
) -> None:
    _, body = _review(client, auth, 5)
    _, kept = _review(client, auth, 6)  # still pending: never purged
    item = body["review_item_id"]
    before = utc_now()
    response = client.post(f"/v1/review/{item}/verdict", headers=auth("admin"), json={"verdict": "block"})
    assert response.status_code == 200, response.text
    copy = next(c for c in _copies(engine) if c.review_item_id == item)
    assert copy.delete_after is not None
    assert timedelta(days=30) <= copy.delete_after - before <= timedelta(days=30, minutes=1)
    assert audit.page(session, action="review.block")[0].details["review_copy"].startswith("kept until")
    session.rollback()
    result = runner.invoke(app, ["worker", "--job", "checks.purge_review_copies"])
    assert result.exit_code == 0 and "purged=0" in result.output, result.output
    with frozen_clock(before + timedelta(days=31)):
        assert review_queue.purge_copies(session, actor="system:test") == 1
        session.commit()
    assert [c.review_item_id for c in _copies(engine)] == [kept["review_item_id"]]
    event = audit.page(session, action="review.copies_purged")[0]
    assert event.details == {"review_item_ids": [item]}


def test_zero_retention_deletes_the_copy_on_block(
    client: TestClient, auth: Auth, engine: Engine, settings: Settings, session: Session
) -> None:
    _, body = _review(client, auth, 7)
    session.rollback()
    review_queue.verdict(
        session,
        body["review_item_id"],
        verdict="block",
        actor="user:rita",
        settings=settings.model_copy(update={"review_copy_retention_days": 0}),
    )
    session.commit()
    assert session.scalar(select(func.count(ReviewCopy.id))) == 0


def test_dashboard_shows_the_copy_shielded_and_reveals_it_with_an_audit_event(
    client: TestClient, auth: Auth, signed_in: Callable[[str], TestClient], session: Session
) -> None:
    data, body = _review(client, auth, 8)
    item, check_id = body["review_item_id"], body["check_id"]
    reviewer = signed_in("reviewer")
    page = reviewer.get(f"/admin/content/{check_id}")
    assert f'id="review-copy-{item}"' in page.text and f"/admin/review/{item}/image" in page.text
    shielded = reviewer.get(f"/admin/review/{item}/image")
    assert shielded.status_code == 200 and shielded.headers["content-type"] == "image/png"
    assert shielded.content != data and shielded.headers["cache-control"] == "no-store"
    assert reviewer.get(f"/admin/review/{item}/image?view=full").status_code == 403
    revealed = reviewer.post(
        f"/admin/review/{item}/reveal",
        data={"csrf_token": form_token(page.text), "context": f"check:{check_id}"},
        headers={"accept": "application/json"},
    )
    assert revealed.json() == {"src": f"/admin/review/{item}/image?view=full"}
    full = reviewer.get(f"/admin/review/{item}/image?view=full")
    assert full.status_code == 200 and full.content == data
    assert "shielded revealed" in reviewer.get(f"/admin/content/{check_id}?revealed=1").text
    reveal = audit.page(session, action="review_copy.reveal")[0]
    assert reveal.actor.startswith("user:reviewer") and reveal.subject_id == str(item)
    reads = audit.page(session, action="review.image_read", subject_id=str(item))
    assert {e.details["reason"] for e in reads} >= {"shielded preview", "revealed"}
    auditor = signed_in("auditor")
    assert auditor.get(f"/admin/review/{item}/image").status_code == 403
