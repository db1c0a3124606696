"""Actioning: outbox rows, stay-down hashes, copy sweep, duty flags, evidence holds, restore rules."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit import evidence_crypto
from moderation.kit.time import set_clock
from moderation.takedown.service import takedown
from moderation.takedown.staydown import Copy, RegisteredHashes
from moderation.takedown.tasks import purge_evidence
from tests.factories import generated_png
from tests.takedown.conftest import T0, FakeStayDown, b64, submit

SHA = "a" * 64
# The appeal or counter-notice a redress transition names (tests/redress drive them end to end).
RECORD = {"appeal_id": 1}
PDQ = "f" * 64
UK_FIELDS = {
    "intimate_image_declaration": "yes",
    "subject_declaration": "I am the subject",
    "good_faith_declaration": "yes",
}


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _validated(session: Session, settings: Settings, **overrides: object) -> int:
    notice = submit(session, settings, **overrides)
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    return int(notice.id)


def test_action_removes_sweeps_and_banks(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", SHA, PDQ, md5="b" * 32)
    fake_stay_down.copies = [
        Copy("c-2", SHA, PDQ, 0, identical=True),
        Copy("c-3", "c" * 64, "e" + "f" * 63, 3, identical=False),
    ]
    notice_id = _validated(session, settings)
    set_clock(T0 + timedelta(hours=2))
    takedown.action(session, notice_id, actor="apikey:reviewer", reason="NCII", settings=settings)
    detail = takedown.detail(session, notice_id, settings).model_dump()

    assert detail["state"] == "actioned" and detail["actioned_at"] == T0 + timedelta(hours=2)
    assert [c["state"] for c in detail["content"]] == ["removed"]
    copies = {c["content_id"]: c for c in detail["copies"]}
    assert copies["c-2"]["source"] == "identical_copy" and copies["c-2"]["state"] == "removed"
    # TAKE IT DOWN covers identical copies only: the near-duplicate waits for review.
    assert copies["c-3"]["source"] == "near_duplicate" and copies["c-3"]["state"] == "review"
    assert copies["c-3"]["distance"] == 3
    assert detail["sweep"]["identical"] == [{"content_id": "c-2", "distance": 0, "action": "removed"}]
    assert detail["sweep"]["ran_at"] == "2026-11-23T14:00:00Z"
    assert {d["scope"]: d["met"] for d in detail["duties"]} == {"item": True, "identical_copies": True}

    assert ("sha256", SHA) in fake_stay_down.banked and ("pdq", PDQ) in fake_stay_down.banked
    assert fake_stay_down.removed == ["c-1", "c-2"]
    deliveries = detail["deliveries"]
    assert [(d["action"], d["content_ref"], d["state"]) for d in deliveries] == [
        ("remove", "content:c-1", "pending"),
        ("remove", "content:c-2", "pending"),
    ]
    assert len({d["idempotency_key"] for d in deliveries}) == 2
    [clock] = detail["clocks"]
    assert clock["met"] is True and clock["next_alert_at"] is None
    assert detail["due_at"] == T0 + timedelta(hours=48)


def test_substantially_similar_copies_are_removed_under_uk_duty(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", SHA, PDQ)
    fake_stay_down.copies = [Copy("c-9", "d" * 64, "e" + "f" * 63, 5, identical=False)]
    notice_id = _validated(
        session, settings, regimes=["uk-osa-intimate-image"], fields={**UK_FIELDS, "signature": "x"}
    )
    takedown.action(session, notice_id, actor="admin", settings=settings)
    detail = takedown.detail(session, notice_id, settings).model_dump()
    assert detail["copies"][0]["state"] == "removed"
    duties = {d["scope"]: d["met"] for d in detail["duties"]}
    assert duties == {"item": True, "identical_copies": True, "substantially_similar": True}
    assert len(detail["deliveries"]) == 2


def test_duties_not_met_before_the_sweep(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)
    duties = takedown.detail(session, notice.id, settings).model_dump()["duties"]
    assert duties == [
        {"regime": "us-take-it-down", "scope": "item", "met": False},
        {"regime": "us-take-it-down", "scope": "identical_copies", "met": False},
    ]


def test_uploaded_copy_is_encrypted_hashed_and_banked(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    image = generated_png(3)
    notice_id = _validated(session, settings, content={"image_base64": b64(image)})
    detail = takedown.detail(session, notice_id, settings).model_dump()
    [evidence] = detail["evidence"]
    assert evidence["encrypted_bytes"] and evidence["hashes"]["pdq"]
    stored = takedown.evidence_bytes(session, evidence["id"], actor="admin", settings=settings)
    assert stored == image
    notice = takedown.get(session, notice_id)
    assert notice.raw_submission["content"]["image_base64"]["bytes"] == len(image)

    takedown.action(session, notice_id, actor="admin", settings=settings)
    # The bank gets the image itself (so it can store robust variants), decrypted from the evidence.
    assert fake_stay_down.banked == [("image", hashlib.sha256(image).hexdigest())]


def test_ciphertext_is_not_the_plaintext_and_needs_the_key(settings: Settings) -> None:
    token = evidence_crypto.encrypt(settings, b"evidence bytes")
    assert b"evidence bytes" not in token
    assert evidence_crypto.decrypt(settings, token) == b"evidence bytes"
    other = settings.model_copy(update={"secret_key": "another-secret-key-entirely"})
    with pytest.raises(Exception, match="cannot be decrypted"):
        evidence_crypto.decrypt(other, token)


def test_purge_deletes_only_unheld_evidence(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    image = generated_png(4)
    # Terms of service preserve evidence for 90 days from removal.
    notice = submit(
        session,
        settings,
        regimes=["terms-of-service"],
        content={"image_base64": b64(image)},
        fields={"reason": "spam"},
    )
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    takedown.transition(session, notice.id, "close", actor="admin", settings=settings)
    session.commit()

    set_clock(T0 + timedelta(days=89))
    assert purge_evidence(engine) == 0
    set_clock(T0 + timedelta(days=91))
    assert purge_evidence(engine) == 1
    session.expire_all()
    [evidence] = takedown.detail(session, notice.id, settings).model_dump()["evidence"]
    assert evidence["purged_at"] is not None and not evidence["encrypted_bytes"] and evidence["hashes"] == {}


def test_open_notice_evidence_is_never_purged(session: Session, settings: Settings, engine: Engine) -> None:
    submit(session, settings, content={"image_base64": b64(generated_png(5))})
    session.commit()
    set_clock(T0 + timedelta(days=3650))
    assert purge_evidence(engine) == 0


def test_child_safety_content_is_never_restored(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _validated(
        session, settings, regimes=["uk-osa-intimate-image"], child_safety=True, fields={**UK_FIELDS}
    )
    takedown.action(session, notice_id, actor="admin", settings=settings)
    takedown.apply_redress(
        session, notice_id, "appeal", record=RECORD, actor="uploader-support", settings=settings
    )
    with pytest.raises(ModerationError) as caught:
        takedown.apply_redress(
            session,
            notice_id,
            "restore",
            record=RECORD,
            actor="admin",
            reason="appeal granted",
            settings=settings,
        )
    assert caught.value.code == "restore_forbidden_child_safety" and caught.value.status == 409
    kinds = {
        h["kind"]
        for e in takedown.detail(session, notice_id, settings).model_dump()["evidence"]
        for h in e["holds"]
    }
    assert "child_safety" in kinds


def test_appeal_restore_enqueues_restore_actions(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _validated(session, settings, regimes=["uk-osa-intimate-image"], fields={**UK_FIELDS})
    takedown.action(session, notice_id, actor="admin", settings=settings)
    takedown.apply_redress(session, notice_id, "appeal", record=RECORD, actor="admin", settings=settings)
    takedown.apply_redress(
        session, notice_id, "restore", record=RECORD, actor="admin", reason="not intimate", settings=settings
    )
    detail = takedown.detail(session, notice_id, settings).model_dump()
    assert detail["state"] == "restored"
    assert [d["action"] for d in detail["deliveries"]] == ["remove", "restore"]
    assert detail["content"][0]["state"] == "restored"


def test_redress_transitions_need_their_record(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    notice_id = _validated(session, settings, regimes=["uk-osa-intimate-image"], fields={**UK_FIELDS})
    takedown.action(session, notice_id, actor="admin", settings=settings)
    for name in ("appeal", "counter_notice", "uphold", "restore", "reopen"):
        with pytest.raises(ModerationError) as caught:
            takedown.transition(session, notice_id, name, actor="admin", reason="r", settings=settings)
        assert caught.value.code == "redress_record_required" and caught.value.status == 409
    assert takedown.get(session, notice_id).state == "actioned"
    takedown.apply_redress(session, notice_id, "appeal", record=RECORD, actor="admin", settings=settings)
    [event] = [
        e for e in takedown.detail(session, notice_id, settings).timeline if e.action == "notice.appeal"
    ]
    assert event.details["appeal_id"] == 1


def test_dmca_counter_notice_restores_only_inside_the_window(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    fields = {
        "signature": "x",
        "copyrighted_work": "photo",
        "good_faith_statement": "y",
        "accuracy_statement": "z",
    }
    notice_id = _validated(session, settings, regimes=["us-dmca"], fields=fields)
    takedown.action(session, notice_id, actor="admin", settings=settings)
    takedown.apply_redress(
        session, notice_id, "counter_notice", record=RECORD, actor="admin", settings=settings
    )
    set_clock(T0 + timedelta(days=3))
    with pytest.raises(ModerationError) as caught:
        takedown.apply_redress(
            session,
            notice_id,
            "restore",
            record=RECORD,
            actor="admin",
            reason="counter-notice",
            settings=settings,
        )
    assert caught.value.code == "restore_window_not_open"
    earliest = caught.value.details["earliest"]
    # Counter-notice Monday 23 Nov 2026: 10 US business days skip Thanksgiving (26 Nov) -> end of 8 Dec.
    assert earliest == "2026-12-09T05:00:00Z"
    set_clock(T0 + timedelta(days=17))
    takedown.apply_redress(
        session,
        notice_id,
        "restore",
        record=RECORD,
        actor="admin",
        reason="counter-notice",
        settings=settings,
    )
    assert takedown.get(session, notice_id).state == "restored"
