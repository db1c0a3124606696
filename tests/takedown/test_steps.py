"""Multi-step clocks on notices: acknowledgement, status update, decision and removal clocks, each met
by its own event, alerting and shown like removal clocks (California SB 981, India grievances, North
Carolina 66-507(d))."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.takedown import steps as clock_steps
from moderation.takedown.service import takedown
from tests.takedown.conftest import T0, notice_body, submit

H = timedelta(hours=1)
CA = {"regimes": ["us-ca-sb-981"], "fields": {}}


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def clocks(session: Session, settings: Settings, notice_id: int) -> dict[str, dict[str, Any]]:
    return {c["clock"]: c for c in takedown.detail(session, notice_id, settings).model_dump()["clocks"]}


def test_california_steps_are_met_in_turn(session: Session, settings: Settings) -> None:
    # T0 = Mon 23 Nov 2026 12:00Z (04:00 PST).
    notice = submit(session, settings, **CA)
    assert notice.state == "received"
    before = clocks(session, settings, notice.id)
    assert {k: c["step"] for k, c in before.items()} == {
        "acknowledgement": "acknowledgement",
        "status-update": "status_update",
        "decision": "decision",
        "temporary-block": "removal",
    }
    assert before["acknowledgement"]["due_at"] == T0 + 48 * H
    assert before["acknowledgement"]["next_alert_at"] == T0 + 24 * H  # alerts like a removal clock
    assert before["status-update"]["due_at"] is None and before["decision"]["due_at"] is None
    assert notice.due_at == T0 + 48 * H

    # Receipt confirmed at 17:00Z (09:00 PST): status update by the end of 30 Nov PST, decision by the
    # end of 23 Dec PST.
    set_clock(T0 + 5 * H)
    takedown.record_step(
        session, notice.id, "acknowledgement", actor="admin", note="email sent", settings=settings
    )
    after = clocks(session, settings, notice.id)
    assert after["acknowledgement"]["met"] is True and after["acknowledgement"]["next_alert_at"] is None
    assert after["status-update"]["starts_at"] == T0 + 5 * H
    assert after["status-update"]["due_at"] == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert after["decision"]["due_at"] == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    assert after["status-update"]["met"] is None and after["status-update"]["next_alert_at"] is not None
    assert notice.due_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # the next step still owed

    set_clock(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    takedown.record_step(session, notice.id, "status_update", actor="admin", settings=settings)
    assert clocks(session, settings, notice.id)["status-update"]["met"] is True
    assert notice.due_at == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)

    set_clock(datetime(2026, 12, 28, 0, 0, tzinfo=UTC))  # after the 30 days
    takedown.record_step(session, notice.id, "decision", actor="admin", settings=settings)
    done = clocks(session, settings, notice.id)
    assert done["decision"]["met"] is False and done["decision"]["stopped_at"] == datetime(
        2026, 12, 28, tzinfo=UTC
    )
    # The temporary block has no figure: it runs (without a due time) until the notice is actioned.
    assert done["temporary-block"]["met"] is None and notice.due_at is None
    steps = takedown.detail(session, notice.id, settings).model_dump()["steps"]
    assert [s["step"] for s in steps] == ["acknowledgement", "status_update", "decision"]
    assert steps[0]["note"] == "email sent" and steps[0]["recorded_by"] == "admin"
    actions = [e.action for e in audit.for_subject(session, "notice", notice.id)]
    assert actions.count("notice.step") == 3


def test_a_late_acknowledgement_is_missed(session: Session, settings: Settings) -> None:
    notice = submit(session, settings, **CA)
    set_clock(T0 + 49 * H)
    takedown.record_step(session, notice.id, "acknowledgement", actor="admin", settings=settings)
    assert clocks(session, settings, notice.id)["acknowledgement"]["met"] is False


def test_a_step_no_clock_waits_for_is_refused(session: Session, settings: Settings) -> None:
    notice = submit(session, settings)  # TAKE IT DOWN: a removal clock only
    with pytest.raises(ModerationError) as caught:
        takedown.record_step(session, notice.id, "acknowledgement", actor="admin", settings=settings)
    assert caught.value.code == "step_not_applicable" and caught.value.status == 409
    assert caught.value.details["owed"] == []


def test_rejecting_a_grievance_is_its_decision_and_stops_the_acknowledgement(
    session: Session, settings: Settings
) -> None:
    notice = submit(
        session, settings, regimes=["in-it-rules-3-2-a-grievance"], fields={"reason": "defamatory post"}
    )
    before = clocks(session, settings, notice.id)
    assert before["acknowledgement"]["due_at"] == T0 + 24 * H
    # 17:30 IST on 23 Nov: 7 days -> the end of 30 Nov IST.
    assert before["disposal"]["due_at"] == datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    set_clock(T0 + 2 * H)
    takedown.transition(session, notice.id, "reject", actor="admin", reason="not unlawful", settings=settings)
    after = clocks(session, settings, notice.id)
    assert after["disposal"]["met"] is True and after["disposal"]["stopped_at"] == T0 + 2 * H
    # Never acknowledged: stopped with the notice, but not met; no more alerts.
    assert after["acknowledgement"]["met"] is False and after["acknowledgement"]["next_alert_at"] is None


def test_north_carolina_request_without_eligibility_is_not_held(session: Session, settings: Settings) -> None:
    notice = submit(session, settings, regimes=["us-nc-66-507"], fields={})
    assert notice.state == "received" and notice.regimes[0]["missing"] == []
    both = clocks(session, settings, notice.id)
    assert both["removal"]["due_at"] == both["records-review"]["due_at"] == T0 + 72 * H
    set_clock(T0 + 10 * H)
    takedown.record_step(
        session, notice.id, "decision", actor="admin", note="66-506 records complete", settings=settings
    )
    after = clocks(session, settings, notice.id)
    assert after["records-review"]["met"] is True and after["removal"]["met"] is None
    assert notice.due_at == T0 + 72 * H  # the removal clock still runs


Auth = Callable[[str], dict[str, str]]


def test_steps_endpoint(app_client: TestClient, auth: Auth) -> None:
    created = app_client.post("/v1/notices", json=notice_body(**CA), headers=auth("intake"))
    assert created.status_code == 201, created.text
    notice_id = created.json()["id"]
    url = f"/v1/notices/{notice_id}/steps"
    admin = auth("admin")
    assert app_client.post(url, json={"step": "apology"}, headers=admin).status_code == 422
    assert (
        app_client.post(url, json={"step": "decision", "note": "x" * 5001}, headers=admin).status_code == 422
    )
    assert app_client.post(url, json={"step": "acknowledgement"}, headers=auth("intake")).status_code == 403
    response = app_client.post(url, json={"step": "acknowledgement", "note": "sent"}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    ack = next(c for c in body["clocks"] if c["clock"] == "acknowledgement")
    assert ack["met"] is True and ack["step"] == "acknowledgement"
    assert body["steps"][0]["step"] == "acknowledgement"
    missing = app_client.post("/v1/notices/999999/steps", json={"step": "decision"}, headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "notice_not_found"


@pytest.mark.parametrize(
    ("step", "times", "removal_stopped", "decided", "state", "expected"),
    [
        # A removal clock follows the notice's action only; recorded steps do not meet it.
        ("removal", {"decision": T0}, None, None, "received", (None, None)),
        ("removal", {}, T0 + 3 * H, T0 + 3 * H, "actioned", (T0 + 3 * H, True)),
        ("removal", {}, T0 + 5 * H, T0 + 5 * H, "actioned", (T0 + 5 * H, False)),
        # A decision: the earlier of a recorded decision and the action, kept through an appeal.
        ("decision", {"decision": T0 + 2 * H}, T0 + 3 * H, T0 + 3 * H, "actioned", (T0 + 2 * H, True)),
        ("decision", {}, None, T0 + 3 * H, "appealed", (T0 + 3 * H, True)),
        ("decision", {}, None, None, "validated", (None, None)),
        # Acknowledgement and status update: their own event only.
        ("acknowledgement", {"decision": T0}, T0, T0, "actioned", (None, None)),
        ("acknowledgement", {"acknowledgement": T0 + 5 * H}, None, None, "received", (T0 + 5 * H, False)),
        ("status_update", {}, T0 + H, T0 + H, "rejected", (T0 + H, False)),
    ],
)
def test_which_event_meets_which_step(
    step: str,
    times: dict[str, datetime],
    removal_stopped: datetime | None,
    decided: datetime | None,
    state: str,
    expected: tuple[datetime | None, bool | None],
) -> None:
    result = clock_steps.outcome(
        step,
        T0 + 4 * H,
        times=times,
        removal_stopped_at=removal_stopped,
        decided_at=decided,
        state=state,
        state_changed_at=T0 + H,
    )
    assert (result.stopped_at, result.met) == expected
