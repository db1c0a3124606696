"""Notice intake, clocks, pauses and the state machine at the service layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from tests.takedown.conftest import T0, FakeStayDown, notice_body, submit


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _actions(session: Session, notice_id: int) -> list[str]:
    return [e.action for e in audit.for_subject(session, "notice", notice_id)]


def test_complete_notice_is_received_with_its_48_hour_clock(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)
    detail = takedown.detail(session, notice.id, settings).model_dump()
    assert detail["state"] == "received"
    assert detail["missing_fields"] == {}
    assert detail["regimes"][0]["version"] == "2026-05-19"
    assert detail["due_at"] == T0 + timedelta(hours=48)
    [clock] = detail["clocks"]
    assert (clock["regime"], clock["clock"], clock["kind"]) == ("us-take-it-down", "removal", "statutory")
    assert clock["due_at"] == T0 + timedelta(hours=48)
    # First alert at half the clock (thresholds 0.5, 0.75, 0.9 in the regime file).
    assert clock["next_alert_at"] == T0 + timedelta(hours=24)
    assert clock["next_alert_threshold"] == 0.5
    # The reporter gave an address: the acknowledgement is queued with the notice (docs/redress.md).
    assert _actions(session, notice.id) == ["notice.received", "notice.reporter_notified"]
    assert notice.raw_submission["fields"]["signature"] == "/s/ A. Person"


def test_missing_fields_keep_the_notice_and_hold_a_completion_clock(
    session: Session, settings: Settings
) -> None:
    notice = submit(
        session, settings, fields={"signature": "/s/ A"}, reporter={"name": "A"}, extra_note="kept as sent"
    )
    assert notice.state == "needs_info"
    assert notice.regimes[0]["missing"] == ["non_consent_statement", "contact"]
    assert notice.due_at is None  # TAKE IT DOWN runs from a complete (valid) request
    assert notice.raw_submission["extra_note"] == "kept as sent"

    set_clock(T0 + timedelta(hours=3))
    takedown.supply_info(
        session,
        notice.id,
        fields={"non_consent_statement": "no consent"},
        statements={"us-take-it-down": {"contact": "+1 555 0100"}},
        actor="apikey:intake",
        settings=settings,
    )
    assert notice.regimes[0]["missing"] == []
    assert notice.due_at == T0 + timedelta(hours=51)
    assert notice.raw_submission["supplements"][0]["fields"] == {"non_consent_statement": "no consent"}
    assert _actions(session, notice.id) == ["notice.received", "notice.info_supplied"]


def test_receipt_clock_runs_even_when_fields_are_missing(session: Session, settings: Settings) -> None:
    notice = submit(session, settings, regimes=["eu-tco"], fields={}, served_at=None)
    assert notice.state == "needs_info"
    assert set(notice.regimes[0]["missing"]) == {"reasons", "issuing_authority", "authority_reference"}
    assert notice.due_at == T0 + timedelta(hours=1)  # TCO runs from receipt of the order


def test_several_regimes_earliest_clock_wins(session: Session, settings: Settings) -> None:
    notice = submit(
        session,
        settings,
        regimes=["us-take-it-down", "uk-osa-intimate-image", "eu-dsa-16"],
        fields={
            **notice_body()["fields"],
            "intimate_image_declaration": "yes",
            "subject_declaration": "me",
            "good_faith_declaration": "yes",
            "explanation": "x",
            "good_faith_statement": "yes",
        },
    )
    detail = takedown.detail(session, notice.id, settings).model_dump()
    regimes = {c["regime"] for c in detail["clocks"]}
    assert regimes == {"us-take-it-down", "uk-osa-intimate-image", "eu-dsa-16"}
    fixed = [c["due_at"] for c in detail["clocks"] if c["due_at"] is not None]
    assert detail["due_at"] == min(fixed)


def test_backdated_receipt_is_audited(session: Session, settings: Settings) -> None:
    earlier = T0 - timedelta(days=1)
    notice = submit(session, settings, channel="post", received_at=earlier.isoformat())
    assert notice.received_at == earlier
    assert notice.due_at == earlier + timedelta(hours=48)
    events = audit.for_subject(session, "notice", notice.id)
    backdated = [e for e in events if e.action == "notice.receipt_backdated"]
    assert backdated and backdated[0].details["received_at"].startswith("2026-11-22T12:00")


def test_client_reference_stores_a_notice_once(session: Session, settings: Settings) -> None:
    first, created = takedown.submit(
        session,
        NoticeCreate.model_validate(notice_body(client_reference="r-1")),
        actor="a",
        settings=settings,
    )
    again, created_again = takedown.submit(
        session,
        NoticeCreate.model_validate(notice_body(client_reference="r-1")),
        actor="a",
        settings=settings,
    )
    assert created and not created_again and again.id == first.id


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"received_at": (T0 + timedelta(hours=1)).isoformat()}, "invalid_notice"),
        ({"received_at": "2026-11-23T10:00:00"}, "naive_datetime"),
        ({"regimes": ["no-such-regime"]}, "unknown_regime"),
        ({"regimes": ["us-ut-13-72b"]}, "regime_not_in_force"),
        ({"content": {"image_base64": "not base64!"}}, "invalid_notice"),
    ],
)
def test_bad_submissions_get_stable_codes(
    session: Session, settings: Settings, overrides: dict, code: str
) -> None:
    with pytest.raises(ModerationError) as caught:
        submit(session, settings, **overrides)
    assert caught.value.code == code


def test_state_machine_refuses_illegal_transitions(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    notice = submit(session, settings)
    with pytest.raises(ModerationError) as caught:
        takedown.action(session, notice.id, actor="admin", settings=settings)
    assert caught.value.code == "illegal_transition" and caught.value.status == 409
    with pytest.raises(ModerationError) as caught:
        takedown.transition(session, notice.id, "close", actor="admin", settings=settings)
    assert caught.value.code == "illegal_transition"
    with pytest.raises(ModerationError) as caught:
        takedown.transition(session, notice.id, "reject", actor="admin", settings=settings)
    assert caught.value.code == "reason_required"

    takedown.transition(session, notice.id, "validate", actor="admin", reason="checked", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    with pytest.raises(ModerationError) as caught:
        takedown.action(session, notice.id, actor="admin2", settings=settings)
    assert caught.value.code == "illegal_transition"
    # TAKE IT DOWN has no counter-notice or appeal route.
    with pytest.raises(ModerationError) as caught:
        takedown.apply_redress(
            session,
            notice.id,
            "counter_notice",
            record={"counter_notice_id": 1},
            actor="admin",
            settings=settings,
        )
    assert caught.value.code == "illegal_transition"
    takedown.transition(session, notice.id, "close", actor="admin", settings=settings)
    assert notice.state == "closed" and notice.closed_at == T0
    # The reporter's acknowledgement and decision notices are recorded between (docs/redress.md).
    actions = [a for a in _actions(session, notice.id) if a != "notice.reporter_notified"]
    assert actions[:3] == ["notice.received", "notice.validate", "notice.action"]
    assert actions[-1] == "notice.close"
    [validate] = [e for e in audit.for_subject(session, "notice", notice.id) if e.action == "notice.validate"]
    assert validate.actor == "admin" and validate.details["reason"] == "checked"


def test_validate_needs_every_field(session: Session, settings: Settings) -> None:
    notice = submit(session, settings, fields={})
    with pytest.raises(ModerationError) as caught:
        takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    assert caught.value.code == "notice_incomplete"
    assert "non_consent_statement" in caught.value.details["missing"]["us-take-it-down"]


def test_rejection_keeps_reason_and_stops_clocks(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)
    takedown.transition(
        session, notice.id, "reject", actor="admin", reason="not intimate imagery", settings=settings
    )
    detail = takedown.detail(session, notice.id, settings).model_dump()
    assert detail["state"] == "rejected" and detail["state_reason"] == "not intimate imagery"
    assert all(c["next_alert_at"] is None and c["stopped_at"] is not None for c in detail["clocks"])


def test_tco_clock_pauses_for_an_allowed_reason_and_resumes(session: Session, settings: Settings) -> None:
    notice = submit(
        session,
        settings,
        regimes=["eu-tco"],
        fields={"reasons": "x", "issuing_authority": "y", "authority_reference": "z"},
    )
    assert notice.due_at == T0 + timedelta(hours=1)
    set_clock(T0 + timedelta(minutes=20))
    with pytest.raises(ModerationError) as caught:
        takedown.pause(session, notice.id, reason="bored", note=None, actor="admin", settings=settings)
    assert caught.value.code == "pause_not_allowed"
    assert "force_majeure" in caught.value.details["allowed"]
    takedown.pause(
        session,
        notice.id,
        reason="force_majeure",
        note="data centre outage",
        actor="admin",
        settings=settings,
    )
    detail = takedown.detail(session, notice.id, settings).model_dump()
    assert detail["due_at"] is None and detail["clocks"][0]["paused"] is True
    assert detail["clocks"][0]["next_alert_at"] is None
    set_clock(T0 + timedelta(minutes=50))
    takedown.resume(session, notice.id, actor="admin", settings=settings)
    # Art. 3(7): the hour starts to run again in full once the force majeure ends (restart).
    assert notice.due_at == T0 + timedelta(minutes=50) + timedelta(hours=1)
    pauses = takedown.detail(session, notice.id, settings).model_dump()["pauses"]
    assert pauses[0]["reason"] == "force_majeure" and pauses[0]["ended_at"] == T0 + timedelta(minutes=50)
    with pytest.raises(ModerationError) as caught:
        takedown.resume(session, notice.id, actor="admin", settings=settings)
    assert caught.value.code == "not_paused"


def test_take_it_down_clock_cannot_pause(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)
    with pytest.raises(ModerationError) as caught:
        takedown.pause(
            session, notice.id, reason="force_majeure", note=None, actor="admin", settings=settings
        )
    assert caught.value.code == "pause_not_allowed" and caught.value.details["allowed"] == []


def test_alert_marker_advances_threshold_by_threshold(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)
    set_clock(T0 + timedelta(hours=30))
    [clock] = takedown.clocks_crossing_threshold(session)
    assert clock.notice_id == notice.id and clock.next_alert_threshold == 0.5
    assert takedown.mark_alert_sent(session, clock, settings=settings)
    assert takedown.clocks_crossing_threshold(session) == []  # 0.75 falls at 36 h
    set_clock(T0 + timedelta(hours=37))
    [clock] = takedown.clocks_crossing_threshold(session)
    assert clock.next_alert_threshold == 0.75 and clock.next_alert_at == T0 + timedelta(hours=36)
    set_clock(T0 + timedelta(hours=49))
    takedown.mark_alert_sent(session, clock, settings=settings)
    [clock] = takedown.clocks_crossing_threshold(session)
    assert clock.next_alert_threshold == 0.9
    takedown.mark_alert_sent(session, clock, settings=settings)
    [clock] = takedown.clocks_crossing_threshold(session)
    assert clock.next_alert_threshold == 1.0 and clock.next_alert_at == T0 + timedelta(hours=48)  # breach
    takedown.mark_alert_sent(session, clock, settings=settings)
    assert takedown.clocks_crossing_threshold(session) == []
