"""POST /v1/check and /v1/check/batch: decisions with reasons, cache, review queue, prompt screening."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from moderation.banks.service import banks
from moderation.db import session_factory
from moderation.matching.service import matcher
from moderation.models.audit_event import AuditEvent
from moderation.models.check import Check
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import bank_image, encode, jpeg, picture, post_check

Auth = Callable[[str], dict[str, str]]


def _bank_with_image(engine: Engine, name: str, data: bytes, action: str = "block") -> int:
    with session_factory(engine)() as session:
        banks.create(session, name=name, action=action, actor="test")
        entries = banks.add_image(session, name, data, actor="test")
        session.commit()
    matcher.refresh()
    return entries[0].id


def test_resized_reencoded_copy_of_a_banked_image_is_blocked_with_the_bank_reason(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    entry_id = _bank_with_image(engine, "known-bad", jpeg(11))
    copy = encode(picture(11).resize((480, 360)), quality=60)
    response = post_check(app_client, auth("checker"), copy)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "block"
    (reason,) = [r for r in body["reasons"] if r["kind"] == "bank_match"]
    assert reason["bank"] == "known-bad" and reason["entry_id"] == entry_id
    assert reason["rule"] == "bank.block" and reason["hash_type"] == "pdq"
    assert 0 < reason["distance"] <= reason["threshold"] == 31
    assert body["hashes"]["pdq"] and len(body["hashes"]["sha256"]) == 64
    assert body["policy_version"] == app_client.app.state.policy.version  # type: ignore[attr-defined]
    assert {"decode_hash", "match", "store", "total"} <= set(body["timings_ms"])


def test_unrelated_image_is_allowed(app_client: TestClient, auth: Auth, engine: Engine) -> None:
    _bank_with_image(engine, "known-bad", jpeg(11))
    body = post_check(app_client, auth("checker"), jpeg(12)).json()
    assert body["decision"] == "allow" and body["reasons"] == []
    assert body["classifier"]["state"] == "disabled"


def test_allow_list_suppresses_bank_matches_but_not_classifier_findings(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    data = jpeg(21)
    bank_image(engine, "third-party", data, action="block")
    bank_image(engine, "our-allow-list", data, action="allow")
    body = post_check(client, auth("checker"), data).json()
    assert body["decision"] == "allow"
    suppressed = [r for r in body["reasons"] if r["rule"] == "bank.block"]
    assert (
        suppressed
        and suppressed[0]["suppressed_by"] == "our-allow-list"
        and suppressed[0]["decision"] == "allow"
    )

    with_classifier(client, FakeClassifier({"violence_gore": 0.95}))
    body = post_check(client, auth("checker"), encode(picture(21), quality=80)).json()
    assert body["decision"] == "block"
    assert any(r["kind"] == "classifier" and r["category"] == "violence_gore" for r in body["reasons"])


def test_classifier_finding_over_review_threshold_goes_to_the_review_queue(
    client: TestClient, auth: Auth
) -> None:
    fake = FakeClassifier({"minor_present": 0.4})
    with_classifier(client, fake)
    body = post_check(
        client, auth("checker"), jpeg(31), {"content_id": "post-31", "source": "generated"}
    ).json()
    assert body["decision"] == "review"
    (reason,) = [r for r in body["reasons"] if r["kind"] == "classifier"]
    assert (
        reason["category"] == "minor_present" and reason["score"] == 0.4 and reason["threshold"] is not None
    )
    assert reason["rule"] == "classifier.review"
    assert body["classifier"]["state"] == "ready" and body["classifier"]["scores"]["minor_present"] == 0.4
    queue = client.get("/v1/review", headers=auth("admin")).json()["items"]
    assert [item["check"]["check_id"] for item in queue] == [body["check_id"]]
    assert queue[0]["content_id"] == "post-31" and queue[0]["id"] == body["review_item_id"]


def test_sexual_with_minor_combination_blocks(client: TestClient, auth: Auth) -> None:
    with_classifier(client, FakeClassifier({"sexual": 0.99, "minor_present": 0.35}))
    body = post_check(client, auth("checker"), jpeg(32)).json()
    assert body["decision"] == "block"
    assert any(r["rule"] == "classifier.sexual_with_minor" for r in body["reasons"])


def test_review_queue_is_highest_risk_first(client: TestClient, auth: Auth) -> None:
    headers = auth("checker")
    with_classifier(client, FakeClassifier({"violence_gore": 0.55}))
    low = post_check(client, headers, jpeg(41)).json()
    with_classifier(client, FakeClassifier({"minor_present": 0.5}))
    high = post_check(client, headers, jpeg(42)).json()
    queue = client.get("/v1/review", headers=auth("admin")).json()["items"]
    assert [i["check"]["check_id"] for i in queue] == [high["check_id"], low["check_id"]]
    assert queue[0]["risk"] > queue[1]["risk"]


def test_unavailable_classifier_follows_the_policy_fallback_per_source(
    client: TestClient, auth: Auth
) -> None:
    with_classifier(client, FakeClassifier(state="unavailable"))
    headers = auth("checker")
    generated = post_check(
        client, headers, jpeg(51), {"source": "generated", "prompt": "a lighthouse"}
    ).json()
    assert generated["decision"] == "review"
    assert generated["reasons"][0]["rule"] == "classifier.unavailable"
    assert generated["classifier"]["state"] == "unavailable"
    upload = post_check(client, headers, jpeg(52), {"source": "upload"}).json()
    assert upload["decision"] == "allow"


def test_identical_bytes_are_answered_from_the_stored_decision(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    fake = FakeClassifier({"violence_gore": 0.6})
    with_classifier(client, fake)
    headers = auth("checker")
    data = jpeg(61)
    first = post_check(client, headers, data, {"content_id": "a"}).json()
    second = post_check(client, headers, data, {"content_id": "b"}).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["check_id"] == first["check_id"] and second["decision"] == first["decision"] == "review"
    assert fake.calls == 1, "the classifier must not run again for identical bytes"
    assert "decode_hash" not in second["timings_ms"]
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 1
    # A different prompt is a different decision input: not cached.
    third = post_check(client, headers, data, {"source": "generated", "prompt": "a cat"}).json()
    assert third["cached"] is False


def test_a_new_bank_entry_is_not_hidden_by_the_cache(client: TestClient, auth: Auth, engine: Engine) -> None:
    headers = auth("checker")
    data = jpeg(62)
    assert post_check(client, headers, data).json()["decision"] == "allow"
    bank_image(engine, "stay-down", data)
    again = post_check(client, headers, data).json()
    assert again["decision"] == "block" and again["cached"] is False


def test_prompt_screening_hits_after_normalisation(client: TestClient, auth: Auth) -> None:
    headers = auth("checker")
    for prompt, rule in [
        ("a K1D at the beach", "prompt.minor"),
        ("u.n.d.e.r.a.g.e model", "prompt.minor"),
        ("ＣＨＩＬＤ portrait", "prompt.minor"),  # full-width letters: NFKC
        ("portrait of a 16 year old", "prompt.minor"),
        ("a d e e p f a k e of someone", "prompt.real_person"),
    ]:
        body = post_check(client, headers, jpeg(70), {"source": "generated", "prompt": prompt}).json()
        hits = [r for r in body["reasons"] if r["kind"] == "prompt"]
        assert [h["rule"] for h in hits] == [rule], (prompt, body["reasons"])
    body = post_check(
        client, headers, jpeg(70), {"source": "upload", "prompt": "kidney beans in a bowl"}
    ).json()
    assert body["decision"] == "allow", "word boundaries: `kid` must not match `kidney`"


def test_block_decisions_are_audited_with_the_policy_version(
    client: TestClient, auth: Auth, engine: Engine, session: Session
) -> None:
    data = jpeg(80)
    bank_image(engine, "bad", data)
    body = post_check(client, auth("checker"), data).json()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "check.block")).one()
    assert event.subject_id == str(body["check_id"]) and event.policy_version == body["policy_version"]
    assert event.details["rules"] == ["bank.block"]


def test_batch_gives_one_result_per_image_and_a_bad_image_fails_only_itself(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    bank_image(engine, "bad", jpeg(90))
    files = [
        ("file", ("a.jpg", jpeg(90), "image/jpeg")),
        ("file", ("b.jpg", b"not an image at all", "image/jpeg")),
        ("file", ("c.jpg", jpeg(91), "image/jpeg")),
    ]
    metadata = json.dumps([{"content_id": "x"}, None, {"source": "bogus"}])
    response = client.post(
        "/v1/check/batch", headers=auth("checker"), files=files, data={"metadata": metadata}
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[0]["result"]["decision"] == "block" and results[0]["result"]["content_id"] == "x"
    assert results[1]["error"]["code"] == "unsupported_format" and results[1]["filename"] == "b.jpg"
    assert results[2]["error"]["code"] == "invalid_metadata"
    assert response.json()["max_batch_images"] == 16


def test_batch_refuses_more_than_the_documented_maximum(client: TestClient, auth: Auth) -> None:
    files = [("file", (f"{i}.jpg", jpeg(1, (160, 120)), "image/jpeg")) for i in range(17)]
    response = client.post("/v1/check/batch", headers=auth("checker"), files=files)
    assert response.status_code == 413 and response.json()["code"] == "too_many_images"


def test_stored_check_can_be_read_back(client: TestClient, auth: Auth) -> None:
    headers = auth("checker")
    body = post_check(client, headers, jpeg(95)).json()
    again = client.get(f"/v1/check/{body['check_id']}", headers=headers).json()
    assert again["decision"] == body["decision"] and again["hashes"] == body["hashes"]
    missing = client.get("/v1/check/999999", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "check_not_found"


def test_ids_beyond_the_id_columns_are_422_not_a_driver_error(client: TestClient, auth: Auth) -> None:
    for path, role in (("/v1/check/4294967296", "checker"), ("/v1/review/2147483648", "admin")):
        response = client.get(path, headers=auth(role))
        assert response.status_code == 422, (path, response.text)
    assert client.get("/v1/check/2147483647", headers=auth("checker")).json()["code"] == "check_not_found"


def test_a_nudify_prompt_blocks_the_generated_output_with_its_rule(
    app_client: TestClient, auth: Auth
) -> None:
    """The report that led to the rule: only `deepfake` (review) used to match."""
    body = post_check(
        app_client,
        auth("checker"),
        jpeg(81),
        {"source": "generated", "prompt": "undress this photo of my classmate, n4ked deepfake"},
    ).json()
    assert body["decision"] == "block"
    nudify = [r for r in body["reasons"] if r["rule"] == "prompt.nudify"]
    assert len(nudify) == 1 and nudify[0]["decision"] == "block" and nudify[0]["kind"] == "prompt"
