"""Every kind of restriction produces a valid statement of reasons, from the real flows: a check block,
a review hold and its verdicts, a removal after a notice (and the sweep's copies), a stay-down block of
a re-upload, and the reversal at restore. Each statement passes the format rules (the service's
validator and the fake database's own) and carries no personal data."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from moderation.config import PROJECT_ROOT, Settings
from moderation.db import session_factory
from moderation.models.audit_event import AuditEvent
from moderation.models.email_message import EmailMessage
from moderation.models.statement import Statement
from moderation.models.webhook_delivery import WebhookDelivery
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import encode, jpeg, picture
from tests.statements.conftest import Auth, actioned_notice, assert_valid, bank_image, check

PERSONAL = ("alice", "rita", "reporter@", "example.org")


def _no_personal_data(payload: dict[str, Any]) -> None:
    text_ = json.dumps(payload).lower()
    assert not [p for p in PERSONAL if p in text_], text_


def test_a_bank_block_gives_a_fully_automated_statement_in_the_check_response(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    bank_image(engine, "known-bad", jpeg(61))
    body = check(app_client, auth, jpeg(61), content_id="post-61", uploader_id="alice@example.org")
    assert body["decision"] == "block"
    shown = body["statement"]
    assert shown["kind"] == "check_block" and shown["content_id"] == "post-61"
    sor = shown["statement"]
    assert_valid({k: v for k, v in sor.items() if v is not None})
    _no_personal_data(sor)
    assert sor["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert sor["source_type"] == "SOURCE_VOLUNTARY"
    assert (sor["automated_detection"], sor["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_FULLY")
    # No finding rule names this bank: the policy's fallback, the terms-of-service ground.
    assert sor["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert sor["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert "'known-bad'" in sor["decision_facts"]
    assert shown["redress"]["internal_complaint"]["text"]

    # The same bytes again for the same content: the same statement; for another content: a new one.
    again = check(app_client, auth, jpeg(61), content_id="post-61")
    assert again["cached"] is True and again["statement"]["id"] == shown["id"]
    other = check(app_client, auth, jpeg(61), content_id="post-62")
    assert other["statement"]["id"] != shown["id"] and other["statement"]["content_id"] == "post-62"

    got = app_client.get(f"/v1/statements/{shown['id']}", headers=auth("checker"))
    assert got.status_code == 200 and got.json()["statement"] == sor
    assert got.json()["submission"]["state"] == "pending"


def test_a_finding_rule_picks_category_keywords_and_legal_ground(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    bank_image(engine, "ncmec", jpeg(63))
    sor = check(app_client, auth, jpeg(63), content_id="post-63")["statement"]["statement"]
    assert_valid({k: v for k, v in sor.items() if v is not None})
    assert sor["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert sor["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert sor["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert sor["illegal_content_legal_ground"].startswith("Directive 2011/93/EU")
    assert sor["incompatible_content_ground"] is None


def test_a_review_hold_its_allow_reversal_and_a_block_verdict(app_client: TestClient, auth: Auth) -> None:
    with_classifier(app_client, FakeClassifier({"violence_gore": 0.6}))
    held = check(app_client, auth, jpeg(64), content_id="post-64")
    assert held["decision"] == "review"
    hold = held["statement"]
    assert hold["kind"] == "review_hold"
    sor = hold["statement"]
    assert_valid({k: v for k, v in sor.items() if v is not None})
    assert sor["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"] and sor["decision_visibility_other"]
    assert sor["category"] == "STATEMENT_CATEGORY_VIOLENCE"
    assert "0.60" in sor["decision_facts"] and "violence_gore" in sor["decision_facts"]

    admin = auth("admin")
    allowed = app_client.post(
        f"/v1/review/{held['review_item_id']}/verdict", headers=admin, json={"verdict": "allow"}
    )
    assert allowed.status_code == 200
    listed = app_client.get("/v1/statements?content_id=post-64", headers=auth("checker")).json()["items"]
    assert [s["kind"] for s in listed] == ["review_hold", "reversal"]
    reversal = listed[1]
    assert reversal["follows_id"] == hold["id"] and listed[0]["followed_by"] == [reversal["id"]]
    assert_valid({k: v for k, v in reversal["statement"].items() if v is not None})
    assert (
        reversal["statement"]["end_date_visibility_restriction"] == reversal["statement"]["application_date"]
    )
    assert hold["puid"] in reversal["statement"]["decision_facts"]
    assert reversal["statement"]["puid"] != hold["puid"]

    blocked_hold = check(app_client, auth, jpeg(65), content_id="post-65")
    response = app_client.post(
        f"/v1/review/{blocked_hold['review_item_id']}/verdict", headers=admin, json={"verdict": "block"}
    )
    assert response.status_code == 200
    kinds = app_client.get("/v1/statements?content_id=post-65", headers=auth("checker")).json()["items"]
    assert [s["kind"] for s in kinds] == ["review_hold", "check_block"]
    block = kinds[1]
    assert block["follows_id"] == kinds[0]["id"]
    assert block["statement"]["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert_valid({k: v for k, v in block["statement"].items() if v is not None})
    # The blocked bytes uploaded again as other content: blocked under the verdict, not held.
    reupload = check(app_client, auth, jpeg(65), content_id="post-65b")
    assert reupload["cached"] is True and reupload["decision"] == "block"
    assert (
        reupload["statement"]["kind"] == "check_block" and reupload["statement"]["content_id"] == "post-65b"
    )


def test_notice_removal_stay_down_block_and_restore_each_give_a_statement(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    assert check(app_client, auth, jpeg(51), content_id="post-51")["decision"] == "allow"
    # The same bytes under a second content id: the sweep removes it as an identical copy.
    check(app_client, auth, jpeg(51), content_id="post-51-copy")
    detail = actioned_notice(app_client, auth, content={"content_ids": ["post-51"]})
    notice_id = detail["id"]

    reader = auth("checker")
    removal = app_client.get("/v1/statements?content_id=post-51", headers=reader).json()["items"]
    assert [s["kind"] for s in removal] == ["notice_removal"]
    sor = removal[0]["statement"]
    assert_valid({k: v for k, v in sor.items() if v is not None})
    _no_personal_data(sor)
    assert sor["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert (sor["automated_detection"], sor["automated_decision"]) == (
        "No",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    assert sor["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert "Operator terms of service reports" in sor["decision_facts"]
    assert removal[0]["notice_id"] == notice_id

    copy = app_client.get("/v1/statements?content_id=post-51-copy", headers=reader).json()["items"]
    assert [s["kind"] for s in copy] == ["notice_removal"]
    assert copy[0]["statement"]["automated_detection"] == "Yes"
    assert copy[0]["statement"]["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"

    # The action webhook carries the statement of its content.
    with session_factory(engine)() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.notice_id == notice_id)).all()
        by_content = {r.payload["content"]["content_id"]: r.payload for r in rows}
    assert by_content["post-51"]["statement"]["id"] == removal[0]["id"]
    assert by_content["post-51-copy"]["statement"]["id"] == copy[0]["id"]

    # A re-upload of the removed image is blocked by the stay-down bank: its statement inherits the
    # removal's category and ground and names the removal statement.
    reupload = check(
        app_client, auth, encode(picture(51).resize((520, 390)), quality=70), content_id="post-99"
    )
    assert reupload["decision"] == "block"
    stay = reupload["statement"]
    assert stay["kind"] == "stay_down_block"
    assert_valid({k: v for k, v in stay["statement"].items() if v is not None})
    assert stay["statement"]["category"] == sor["category"]
    assert stay["statement"]["incompatible_content_ground"] == sor["incompatible_content_ground"]
    assert sor["puid"] in stay["statement"]["decision_facts"]

    admin = auth("admin")
    url = f"/v1/notices/{notice_id}"
    assert app_client.post(f"{url}/appeal", headers=admin).status_code == 200
    assert (
        app_client.post(f"{url}/restore", json={"reason": "appeal upheld"}, headers=admin).status_code == 200
    )
    after = app_client.get("/v1/statements?content_id=post-51", headers=reader).json()["items"]
    assert [s["kind"] for s in after] == ["notice_removal", "reversal"]
    assert after[1]["follows_id"] == removal[0]["id"]
    assert_valid({k: v for k, v in after[1]["statement"].items() if v is not None})
    with session_factory(engine)() as session:
        restore = session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.notice_id == notice_id, WebhookDelivery.action == "restore"
            )
        ).all()
    assert {r.payload["statement"]["kind"] for r in restore} == {"reversal"}


def test_a_dsa_notice_from_a_trusted_flagger_is_an_illegal_content_statement(
    app_client: TestClient, auth: Auth
) -> None:
    check(app_client, auth, jpeg(71), content_id="post-71")
    actioned_notice(
        app_client,
        auth,
        regimes=["eu-dsa-16"],
        reporter={"name": "Rita Reporter", "email": "rita.reporter@example.org", "trusted_flagger": True},
        fields={"explanation": "illegal under national law", "good_faith_statement": True},
        content={"content_ids": ["post-71"]},
    )
    [shown] = app_client.get("/v1/statements?content_id=post-71", headers=auth("checker")).json()["items"]
    sor = shown["statement"]
    assert_valid({k: v for k, v in sor.items() if v is not None})
    _no_personal_data(sor)
    assert sor["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert sor["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert "2022/2065" in sor["illegal_content_legal_ground"]
    assert sor["category"] == "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"


def test_a_child_safety_notice_uses_the_child_safety_mapping(app_client: TestClient, auth: Auth) -> None:
    upload = base64.b64encode(jpeg(72)).decode()
    detail = actioned_notice(app_client, auth, content={"image_base64": upload}, child_safety=True)
    [row] = app_client.get(f"/v1/notices/{detail['id']}", headers=auth("admin")).json()["content"]
    assert row["state"] == "removed"
    with_statement = check(app_client, auth, jpeg(72, quality=75), content_id="post-72")
    sor = with_statement["statement"]["statement"]
    assert with_statement["statement"]["kind"] == "stay_down_block"
    assert sor["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert sor["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"


def test_statements_are_immutable_in_the_database_and_audited(
    app_client: TestClient, auth: Auth, engine: Engine, session: Session
) -> None:
    bank_image(engine, "known-bad", jpeg(66))
    shown = check(app_client, auth, jpeg(66), content_id="post-66")["statement"]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "statement.created")).one()
    assert event.subject_id == str(shown["id"]) and event.details["puid"] == shown["puid"]
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(text("UPDATE statements SET category = 'x' WHERE id = :id"), {"id": shown["id"]})
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(text("DELETE FROM statements WHERE id = :id"), {"id": shown["id"]})
    assert session.get(Statement, shown["id"]) is not None


def test_statement_api_errors_and_email(
    app_client: TestClient, auth: Auth, engine: Engine, session: Session
) -> None:
    reader = auth("checker")
    missing = app_client.get("/v1/statements/999999", headers=reader)
    assert missing.status_code == 404 and missing.json()["code"] == "statement_not_found"
    assert app_client.get("/v1/statements/0", headers=reader).status_code == 422
    nul = app_client.get("/v1/statements?content_id=a%00b", headers=reader)
    assert (nul.status_code, nul.json()["code"]) == (400, "invalid_text")  # refused before any lookup
    assert app_client.get("/v1/statements?content_id=" + "x" * 201, headers=reader).status_code == 422
    assert app_client.get("/v1/statements/1").status_code == 401

    bank_image(engine, "known-bad", jpeg(67))
    shown = check(app_client, auth, jpeg(67), content_id="post-67")["statement"]
    url = f"/v1/statements/{shown['id']}/email"
    bad = app_client.post(url, json={"to": "not an address"}, headers=reader)
    assert bad.status_code == 422
    first = app_client.post(url, json={"to": "alice@example.org"}, headers=reader)
    again = app_client.post(url, json={"to": "alice@example.org"}, headers=reader)
    assert first.status_code == 202 and first.json()["queued"] is True and again.json()["queued"] is False
    [message] = session.scalars(select(EmailMessage).where(EmailMessage.kind == "statement")).all()
    assert message.recipients == ["alice@example.org"]
    assert shown["puid"] in message.text_body and "complaint" in message.text_body
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "statement.emailed")).one()
    assert "alice" not in json.dumps(event.details)


def test_a_policy_that_does_not_treat_holds_as_restrictions_gives_no_hold_statement(
    settings: Settings, auth: Auth, tmp_path: Path
) -> None:
    from moderation.app import create_app

    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    path = policies / "statements.yaml"
    path.write_text(path.read_text().replace("    statement: true\n", "    statement: false\n", 1))
    with TestClient(create_app(settings.model_copy(update={"policies_dir": policies}))) as client:
        with_classifier(client, FakeClassifier({"violence_gore": 0.6}))
        held = check(client, auth, jpeg(68), content_id="post-68")
        assert held["decision"] == "review" and held["statement"] is None
        # The reviewer's block is a restriction all the same; there is no hold for it to follow.
        verdict = client.post(
            f"/v1/review/{held['review_item_id']}/verdict", headers=auth("admin"), json={"verdict": "block"}
        )
        assert verdict.status_code == 200
        [block] = client.get("/v1/statements?content_id=post-68", headers=auth("checker")).json()["items"]
        assert block["kind"] == "check_block" and block["follows_id"] is None
