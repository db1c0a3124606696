"""Review queue verdicts: allow / block / escalate, recorded against the check, audited, optional bank add."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.banks.service import banks
from moderation.db import session_factory
from moderation.matching.service import matcher
from moderation.models.audit_event import AuditEvent
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import encode, jpeg, picture, post_check

Auth = Callable[[str], dict[str, str]]


def _reviewed(client: TestClient, auth: Auth, seed: int, content_id: str = "post") -> dict[str, Any]:
    with_classifier(client, FakeClassifier({"violence_gore": 0.6}))
    body: dict[str, Any] = post_check(client, auth("checker"), jpeg(seed), {"content_id": content_id}).json()
    assert body["decision"] == "review"
    return body


def test_allow_verdict_is_recorded_against_the_check_and_audited(
    app_client: TestClient, auth: Auth, session: Session
) -> None:
    body = _reviewed(app_client, auth, 1)
    admin = auth("admin")
    item = body["review_item_id"]
    response = app_client.post(
        f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "allow", "note": "fine"}
    )
    assert response.status_code == 200, response.text
    entry = response.json()
    assert (
        entry["state"] == "allowed" and entry["decided_by"].startswith("apikey:") and entry["note"] == "fine"
    )
    assert entry["check"]["decision"] == "allow"
    assert entry["check"]["reasons"][0]["kind"] == "review_verdict"
    assert app_client.get("/v1/review", headers=admin).json()["items"] == []
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "review.allow")).one()
    assert event.subject_id == str(item) and event.details["check_id"] == body["check_id"]
    # The same bytes again: the stored decision with the reviewer's verdict.
    again = post_check(app_client, auth("checker"), jpeg(1), {"content_id": "post"}).json()
    assert again["cached"] is True and again["decision"] == "allow"


def test_a_decided_item_cannot_be_decided_again(app_client: TestClient, auth: Auth) -> None:
    item = _reviewed(app_client, auth, 2)["review_item_id"]
    admin = auth("admin")
    assert (
        app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "block"}).status_code
        == 200
    )
    again = app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "allow"})
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    missing = app_client.post("/v1/review/99999/verdict", headers=admin, json={"verdict": "allow"})
    assert missing.status_code == 404 and missing.json()["code"] == "review_item_not_found"
    bad = app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "maybe"})
    assert bad.status_code == 422


def test_escalated_items_stay_pending_until_decided(app_client: TestClient, auth: Auth) -> None:
    item = _reviewed(app_client, auth, 3)["review_item_id"]
    admin = auth("admin")
    assert (
        app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "escalate"}).json()[
            "state"
        ]
        == "escalated"
    )
    pending = app_client.get("/v1/review", headers=admin, params={"state": "escalated"}).json()["items"]
    assert [i["id"] for i in pending] == [item]
    twice = app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "escalate"})
    assert twice.status_code == 409
    done = app_client.post(f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "block"}).json()
    assert done["state"] == "blocked"


def test_block_verdict_can_add_the_content_to_a_bank(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    with session_factory(engine)() as s:
        banks.create(s, name="reviewed-bad", action="block", actor="test")
        s.commit()
    body = _reviewed(app_client, auth, 4)
    admin = auth("admin")
    response = app_client.post(
        f"/v1/review/{body['review_item_id']}/verdict",
        headers=admin,
        json={"verdict": "block", "add_to_bank": "reviewed-bad"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["added_to_bank"] == "reviewed-bad"
    matcher.refresh()
    with_classifier(app_client, None)
    copy = post_check(app_client, auth("checker"), encode(picture(4), quality=70)).json()
    assert copy["decision"] == "block"
    assert any(r.get("bank") == "reviewed-bad" for r in copy["reasons"])


def test_add_to_bank_needs_a_block_verdict_and_an_existing_bank(app_client: TestClient, auth: Auth) -> None:
    item = _reviewed(app_client, auth, 5)["review_item_id"]
    admin = auth("admin")
    wrong = app_client.post(
        f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "allow", "add_to_bank": "x"}
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_verdict"
    missing = app_client.post(
        f"/v1/review/{item}/verdict", headers=admin, json={"verdict": "block", "add_to_bank": "no-such-bank"}
    )
    assert missing.status_code == 404, missing.text
    # The failed verdict rolled back: the item is still open.
    assert app_client.get(f"/v1/review/{item}", headers=admin).json()["state"] == "open"
