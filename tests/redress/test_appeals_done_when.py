"""Done-when, appeals: a pre-publish block appealed by the uploader and overturned by a second
reviewer is allowed on re-check, with one restore webhook and one decision email; a rejected notice
appealed by its reporter and overturned is actioned on its original clock (real banks, matcher,
check API, webhook receiver and SMTP server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.matching.service import matcher
from moderation.models.content_item import ContentItem
from moderation.redress.service import appeals
from moderation.takedown.tasks import deliver_webhooks
from tests.email.smtp_server import SMTPServer
from tests.factories import bank_image, encode, jpeg, picture, post_check
from tests.redress.conftest import deliver_emails, file_appeal, mail_to, subjects
from tests.takedown.receiver import webhook_receiver

Auth = Callable[[str], dict[str, str]]
APPELLANT = "uploader.nine@example.org"


def test_block_appealed_and_overturned_is_allowed_again_with_one_webhook_and_one_email(
    app_client: TestClient,
    auth: Auth,
    make_key: Callable[..., str],
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SMTPServer,
    session: Session,
) -> None:
    checker = auth("checker")
    bank_image(engine, "known-bad", jpeg(61))
    blocked = post_check(
        app_client, checker, jpeg(61), {"content_id": "up-61", "uploader_id": "user-9"}
    ).json()
    assert blocked["decision"] == "block", blocked
    appeal = file_appeal(
        app_client,
        auth,
        checker,
        subject={"type": "check", "id": blocked["check_id"]},
        appellant={"role": "uploader", "email": APPELLANT, "user_id": "user-9"},
        statement="This is my own photo of my garden.",
        client_reference="appeal-61",
    )
    assert appeal["kind"] == "check_block" and appeal["state"] == "open"
    assert appeal["original_decider"] is None  # blocked by a bank match: no person decided

    # Nothing automated can close an appeal.
    try:
        appeals.decide(
            session,
            int(appeal["id"]),
            "overturn",
            reason="auto",
            actor="system:redress.scan_clocks",
            settings=mail_settings,
        )
        raise AssertionError("an automated decision was accepted")
    except ModerationError as exc:
        assert exc.status == 403 and exc.code == "automated_decision_forbidden"
    session.rollback()

    first = {"Authorization": f"Bearer {make_key('admin', 'reviewer-a')}"}
    second = {"Authorization": f"Bearer {make_key('admin', 'reviewer-b')}"}
    url = f"/v1/appeals/{appeal['id']}/decision"
    decided = app_client.post(
        url, json={"outcome": "overturn", "reason": "not the banked image"}, headers=first
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["state"] == "overturned" and body["decided_by"] == "apikey:reviewer-a"
    assert len(body["reversal"]["allow_list_entries"]) == 3 and body["reversal"]["registry_items"]
    statement = app_client.get(f"/v1/statements/{body['reversal']['statement_id']}", headers=checker).json()
    assert statement["kind"] == "reversal" and statement["content_id"] == "up-61"
    # The same reviewer's retry answers the decided appeal; a second reviewer's decision is refused.
    assert (
        app_client.post(url, json={"outcome": "overturn", "reason": "retry"}, headers=first).status_code
        == 200
    )
    late = app_client.post(url, json={"outcome": "uphold", "reason": "no"}, headers=second)
    assert late.status_code == 409 and late.json()["code"] == "appeal_already_decided"

    matcher.refresh()
    again = post_check(app_client, checker, jpeg(61), {"content_id": "up-61-again"}).json()
    assert again["decision"] == "allow", again
    copy = post_check(app_client, checker, encode(picture(61).resize((500, 375)), quality=70)).json()
    assert copy["decision"] == "allow", copy
    other = post_check(app_client, checker, jpeg(62)).json()
    assert other["decision"] == "allow"  # control: the allow-list holds only the appealed image
    assert (
        post_check(app_client, checker, jpeg(61, quality=50), {"content_id": "x"}).json()["decision"]
        == "allow"
    )

    rows = session.scalars(select(ContentItem).where(ContentItem.content_id == "up-61")).all()
    assert [r.decision for r in rows] == ["allow"]

    with webhook_receiver() as receiver:
        configured = mail_settings.model_copy(update={"action_webhook_url": receiver.url})
        deliver_webhooks(engine, settings=configured)
        deliver_webhooks(engine, settings=configured)
    restores = [json.loads(r.body) for r in receiver.requests]
    assert [(r["event"], r["idempotency_key"]) for r in restores] == [
        ("content.restore", f"appeal-{appeal['id']}/restore")
    ]
    assert restores[0]["content"]["content_id"] == "up-61"

    deliver_emails(engine, mail_settings)
    deliver_emails(engine, mail_settings)
    assert subjects(smtp_server, APPELLANT) == [
        f"We received your appeal #{appeal['id']}",
        f"Your appeal #{appeal['id']} succeeded",
    ]
    [decision] = [m for m in mail_to(smtp_server, APPELLANT) if "succeeded" in m.subject]
    assert "not the banked image" in decision.text()

    audit = app_client.get(f"/v1/audit?subject_type=appeal&subject_id={appeal['id']}", headers=first).json()
    assert {"appeal.filed", "appeal.overturned"} <= {e["action"] for e in audit["items"]}


def test_rejected_notice_appealed_by_reporter_is_actioned_on_its_original_clock(
    app_client: TestClient,
    auth: Auth,
    make_key: Callable[..., str],
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SMTPServer,
) -> None:
    t0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    set_clock(t0)
    reporter = "reporter.person@example.org"
    rejecter = {"Authorization": f"Bearer {make_key('admin', 'reviewer-a')}"}
    other = {"Authorization": f"Bearer {make_key('admin', 'reviewer-b')}"}
    submitter = auth("intake")
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["uk-osa-intimate-image"],
            "reporter": {"name": "R. Person", "email": reporter},
            "content": {"content_ids": ["c-1"]},
            "fields": {
                "intimate_image_declaration": True,
                "subject_declaration": True,
                "good_faith_declaration": True,
            },
        },
        headers=submitter,
    )
    assert created.status_code == 201, created.text
    url = f"/v1/notices/{created.json()['id']}"
    before = app_client.get(url, headers=rejecter).json()
    due = {(c["regime"], c["clock"]): c["due_at"] for c in before["clocks"]}
    assert before["due_at"] is not None

    set_clock(t0 + timedelta(hours=2))
    rejected = app_client.post(f"{url}/reject", json={"reason": "not an intimate image"}, headers=rejecter)
    assert rejected.status_code == 200, rejected.text

    set_clock(t0 + timedelta(hours=5))
    # Only the key that submitted the notice files its reporter's appeal; another partner's key
    # learns nothing of the notice.
    stranger = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "notice", "id": created.json()["id"]},
            "appellant": {"role": "reporter"},
            "statement": "not mine",
        },
        headers=auth("intake"),
    )
    assert stranger.status_code == 404 and stranger.json()["code"] == "notice_not_found"
    appeal = file_appeal(
        app_client,
        auth,
        headers=submitter,
        subject={"type": "notice", "id": created.json()["id"]},
        appellant={"role": "reporter", "email": reporter},
        statement="It is me in the image.",
    )
    assert appeal["kind"] == "notice_rejection" and appeal["original_decider"] == "apikey:reviewer-a"
    decision_url = f"/v1/appeals/{appeal['id']}/decision"
    same = app_client.post(decision_url, json={"outcome": "overturn", "reason": "x"}, headers=rejecter)
    assert same.status_code == 403 and same.json()["code"] == "same_decision_maker"

    set_clock(t0 + timedelta(hours=6))
    overturned = app_client.post(
        decision_url, json={"outcome": "overturn", "reason": "the reporter is the subject"}, headers=other
    )
    assert overturned.status_code == 200, overturned.text
    after = app_client.get(url, headers=other).json()
    assert after["state"] == "actioned"
    assert {(c["regime"], c["clock"]): c["due_at"] for c in after["clocks"]} == due
    assert after["due_at"] == before["due_at"]
    assert all(c["met"] for c in after["clocks"] if c["clock"] == "removal")

    deliver_emails(engine, mail_settings)
    deliver_emails(engine, mail_settings)
    notice_id = created.json()["id"]
    assert subjects(smtp_server, reporter) == sorted(
        [
            f"We received your notice (notice #{notice_id})",
            f"We did not act on your notice (notice #{notice_id})",
            f"We received your appeal #{appeal['id']}",
            f"We acted on your notice (notice #{notice_id})",
            f"Your appeal #{appeal['id']} succeeded",
        ]
    )
    [rejection] = [m for m in mail_to(smtp_server, reporter) if "did not act" in m.subject]
    assert "not an intimate image" in rejection.text() and "out-of-court" in rejection.text().lower()


def test_uploader_appeal_against_a_removal_is_the_notices_appeal_and_uphold_keeps_it_down(
    app_client: TestClient, auth: Auth, make_key: Callable[..., str]
) -> None:
    actioner = {"Authorization": f"Bearer {make_key('admin', 'reviewer-a')}"}
    other = {"Authorization": f"Bearer {make_key('admin', 'reviewer-b')}"}
    submitter = auth("intake")
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["c-9"]},
            "fields": {"reason": "harassment", "signature": "/s/ A. Person"},
        },
        headers=submitter,
    ).json()
    url = f"/v1/notices/{created['id']}"
    assert app_client.post(f"{url}/validate", headers=actioner).status_code == 200
    assert app_client.post(f"{url}/action", json={"reason": "rules"}, headers=actioner).status_code == 200
    wrong = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "notice", "id": created["id"]},
            "appellant": {"role": "reporter"},
            "statement": "x",
        },
        headers=submitter,
    )
    assert wrong.status_code == 409 and wrong.json()["code"] == "not_appealable"
    appeal = file_appeal(
        app_client,
        auth,
        subject={"type": "notice", "id": created["id"]},
        appellant={"role": "uploader"},
        statement="satire",
    )
    assert app_client.get(url, headers=other).json()["state"] == "appealed"
    decision_url = f"/v1/appeals/{appeal['id']}/decision"
    same = app_client.post(decision_url, json={"outcome": "uphold", "reason": "x"}, headers=actioner)
    assert same.status_code == 403 and same.json()["code"] == "same_decision_maker"
    upheld = app_client.post(
        decision_url, json={"outcome": "uphold", "reason": "clear harassment"}, headers=other
    )
    assert upheld.status_code == 200 and upheld.json()["state"] == "upheld"
    assert app_client.get(url, headers=other).json()["state"] == "actioned"


def test_appeal_window_and_bad_input(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    checker = auth("checker")
    allowed = post_check(app_client, checker, jpeg(63)).json()
    refused = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "check", "id": allowed["check_id"]},
            "appellant": {"role": "uploader"},
            "statement": "x",
        },
        headers=checker,
    )
    assert refused.status_code == 409 and refused.json()["code"] == "not_appealable"
    missing = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "check", "id": 999999},
            "appellant": {"role": "uploader"},
            "statement": "x",
        },
        headers=checker,
    )
    assert missing.status_code == 404 and missing.json()["code"] == "check_not_found"
    bad = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "tweet", "id": 1},
            "appellant": {"role": "uploader"},
            "statement": "x" * 20_000,
        },
        headers=checker,
    )
    assert bad.status_code == 422
    bank_image(engine, "known-bad", jpeg(64))
    set_clock(datetime(2026, 1, 1, tzinfo=UTC))
    blocked = post_check(app_client, checker, jpeg(64)).json()
    set_clock(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=settings.appeal_window_days + 1))
    late = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "check", "id": blocked["check_id"]},
            "appellant": {"role": "uploader"},
            "statement": "x",
        },
        headers=checker,
    )
    assert late.status_code == 409 and late.json()["code"] == "appeal_window_closed"
    assert app_client.get("/v1/appeals?cursor=!!", headers=auth("admin")).status_code == 422
