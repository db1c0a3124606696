"""The takedown queue and notice pages over HTTP: filters, claim, actions, pause, staff entry, copies."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.kit.time import utc_now
from moderation.takedown.service import takedown
from tests.admin.conftest import form_token
from tests.takedown.conftest import FakeStayDown


def test_queue_lists_open_notices_by_due_time_with_countdowns(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int]
) -> None:
    first = make_notice()
    eu = make_notice(regimes=["eu-tco"], fields={}, statements={})
    client = signed_in("reviewer")
    page = client.get("/admin/notices")
    assert page.status_code == 200
    assert f'data-notice="{first}"' in page.text and f'data-notice="{eu}"' in page.text
    assert "data-due=" in page.text
    filtered = client.get("/admin/notices", params={"regime": "eu-tco"})
    assert f'data-notice="{eu}"' in filtered.text and f'data-notice="{first}"' not in filtered.text


def test_notices_past_their_first_alert_threshold_are_highlighted(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int]
) -> None:
    """TAKE IT DOWN's 48 hours alert first at 50 %: a notice 30 hours in is 'due soon', one 2 hours in
    is not, and an overdue one is marked overdue rather than due soon."""
    soon = make_notice(received_at=(utc_now() - timedelta(hours=30)).isoformat())
    fresh = make_notice(received_at=(utc_now() - timedelta(hours=2)).isoformat())
    late = make_notice(received_at=(utc_now() - timedelta(hours=50)).isoformat())
    page = signed_in("reviewer").get("/admin/notices").text

    def row(notice_id: int) -> str:
        return page.split(f'data-notice="{notice_id}"')[0].rsplit("<tr", 1)[1]

    assert 'class="due-soon"' in row(soon) and "due soon" in page.split(f'data-notice="{soon}"')[1][:600]
    assert 'class=""' in row(fresh)
    assert 'class="overdue"' in row(late)


def test_overdue_notices_are_marked(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int]
) -> None:
    late = make_notice(received_at=(utc_now() - timedelta(days=5)).isoformat())
    client = signed_in("reviewer")
    page = client.get("/admin/notices", params={"overdue": "true"})
    assert f'<tr class="overdue" data-notice="{late}">' in page.text
    assert "OVERDUE by" in page.text


def test_claim_and_assign(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int], session: Session
) -> None:
    notice_id = make_notice()
    client = signed_in("reviewer")
    token = form_token(client.get("/admin/notices").text)
    response = client.post(f"/admin/notices/{notice_id}/claim", data={"csrf_token": token})
    assert response.status_code == 200
    me = audit.page(session, action="notice.assign")[0]
    assert me.details["to"].startswith("reviewer")
    mine = client.get("/admin/notices", params={"assignee": "me"})
    assert f'data-notice="{notice_id}"' in mine.text
    assigned = client.post(
        f"/admin/notices/{notice_id}/assign", data={"csrf_token": token, "assignee": "bob"}
    )
    assert assigned.status_code == 200
    session.rollback()  # end the test session's read snapshot
    assert takedown.get(session, notice_id).assignee == "bob"


def test_notice_page_shows_clocks_regime_version_and_timeline(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int]
) -> None:
    notice_id = make_notice()
    page = signed_in("auditor").get(f"/admin/notices/{notice_id}")
    assert page.status_code == 200
    assert "us-take-it-down" in page.text and "version" in page.text
    assert "notice.received" in page.text
    assert "Clocks" in page.text and "data-due=" in page.text
    # Auditors see no action forms.
    assert "/transition" not in page.text and "/pause" not in page.text


def test_validate_then_remove_leaves_the_queue_and_is_audited(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int], session: Session
) -> None:
    notice_id = make_notice()
    client = signed_in("reviewer")
    token = form_token(client.get(f"/admin/notices/{notice_id}").text)
    response = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "validate"}
    )
    assert response.status_code == 200 and "validated" in response.text
    response = client.post(
        f"/admin/notices/{notice_id}/transition",
        data={"csrf_token": token, "name": "action", "reason": "clear match"},
    )
    assert response.status_code == 200 and "actioned" in response.text
    assert "Platform actions" in response.text and "remove" in response.text
    assert f'data-notice="{notice_id}"' not in client.get("/admin/notices").text
    actions = [e.action for e in audit.for_subject(session, "notice", notice_id)]
    assert "notice.validate" in actions and "notice.action" in actions
    events = audit.page(session, action="notice.action", subject_id=str(notice_id))
    assert events[0].actor.startswith("user:reviewer")
    # The sweep time reads as people read times: minutes and UTC, no ISO microseconds.
    page = client.get(f"/admin/notices/{notice_id}").text
    sweep = page.split("Copy sweep ", 1)[1].split(":", 2)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", ":".join(sweep[:2])), sweep


def test_reject_needs_a_reason_and_illegal_moves_show_the_error(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int]
) -> None:
    notice_id = make_notice()
    client = signed_in("admin")
    token = form_token(client.get(f"/admin/notices/{notice_id}").text)
    empty = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "reject"}
    )
    assert empty.status_code == 422 and "reason is required" in empty.text
    early = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "action"}
    )
    assert early.status_code == 409 and "cannot action" in early.text
    bogus = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "drop_table"}
    )
    assert bogus.status_code == 422
    rejected = client.post(
        f"/admin/notices/{notice_id}/transition",
        data={"csrf_token": token, "name": "reject", "reason": "not our content"},
    )
    assert rejected.status_code == 200 and "rejected" in rejected.text


def test_request_info_and_pause_with_reason(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int], session: Session
) -> None:
    tid = make_notice()
    tco = make_notice(regimes=["eu-tco"], fields={}, statements={}, channel="api")
    client = signed_in("reviewer")
    token = form_token(client.get(f"/admin/notices/{tid}").text)
    asked = client.post(
        f"/admin/notices/{tid}/transition",
        data={"csrf_token": token, "name": "request_info", "reason": "signature unreadable"},
    )
    assert asked.status_code == 200 and "needs info" in asked.text
    page = client.get(f"/admin/notices/{tco}")
    assert "force majeure" in page.text
    no_note = client.post(
        f"/admin/notices/{tco}/pause", data={"csrf_token": token, "reason": "force_majeure"}
    )
    assert no_note.status_code == 422
    paused = client.post(
        f"/admin/notices/{tco}/pause",
        data={"csrf_token": token, "reason": "force_majeure", "note": "data-centre flood"},
    )
    assert paused.status_code == 200 and "data-centre flood" in paused.text
    assert audit.page(session, action="notice.pause")[0].details["note"] == "data-centre flood"
    resumed = client.post(f"/admin/notices/{tco}/resume", data={"csrf_token": token})
    assert resumed.status_code == 200
    session.rollback()
    assert audit.page(session, action="notice.resume")


def test_staff_entry_with_an_earlier_receipt_time(
    signed_in: Callable[[str], TestClient], session: Session
) -> None:
    client = signed_in("reviewer")
    form = client.get("/admin/notices/new")
    assert form.status_code == 200 and "us-take-it-down" in form.text
    received = (utc_now() - timedelta(hours=20)).replace(microsecond=0)
    response = client.post(
        "/admin/notices/new",
        data={
            "csrf_token": form_token(form.text),
            "regimes": ["us-take-it-down"],
            "channel": "email",
            "received_at": received.strftime("%Y-%m-%dT%H:%M"),
            "reporter_name": "A. Person",
            "reporter_email": "person@example.org",
            "content_ids": "c-77\nc-78",
            "statements": "signature: /s/ A. Person\nnon_consent_statement: I did not consent.",
        },
    )
    assert response.status_code == 200 and "c-77" in response.text
    backdated = audit.page(session, action="notice.receipt_backdated")
    assert backdated and backdated[0].actor.startswith("user:reviewer")
    bad = client.post(
        "/admin/notices/new",
        data={"csrf_token": form_token(form.text), "regimes": [], "statements": "no colon here"},
    )
    assert bad.status_code == 422 and "field: value" in bad.text


def test_missing_notice_is_a_404_page(signed_in: Callable[[str], TestClient]) -> None:
    response = signed_in("reviewer").get("/admin/notices/99999")
    assert response.status_code == 404 and "Not found" in response.text


def test_notice_forms_need_csrf_and_an_acting_role(
    signed_in: Callable[[str], TestClient], make_notice: Callable[..., int], session: Session
) -> None:
    notice_id = make_notice()
    client = signed_in("auditor")
    token = form_token(client.get("/admin").text)
    for path, data in (
        (f"/admin/notices/{notice_id}/transition", {"name": "validate"}),
        (f"/admin/notices/{notice_id}/claim", {}),
        (f"/admin/notices/{notice_id}/pause", {"reason": "force_majeure", "note": "x"}),
        (f"/admin/notices/{notice_id}/step", {"step": "acknowledgement"}),
        ("/admin/notices/new", {"regimes": ["us-take-it-down"]}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert client.get("/admin/notices/new").status_code == 403
    reviewer = signed_in("reviewer")
    forged = reviewer.post(
        f"/admin/notices/{notice_id}/transition", data={"name": "validate", "csrf_token": "forged"}
    )
    assert forged.status_code == 403 and "Form expired" in forged.text
    assert takedown.get(session, notice_id).state == "received"


def test_record_a_step_from_the_notice_page(
    signed_in: Callable[[str], TestClient],
    make_notice: Callable[..., int],
    session: Session,
    settings: Settings,
) -> None:
    ca = make_notice(regimes=["us-ca-sb-981"], fields={}, statements={})
    client = signed_in("reviewer")
    page = client.get(f"/admin/notices/{ca}")
    assert f'action="/admin/notices/{ca}/step"' in page.text
    assert "status update, statutory, from acknowledged" in page.text
    token = form_token(page.text)
    refused = client.post(f"/admin/notices/{ca}/step", data={"csrf_token": token, "step": "removal"})
    assert refused.status_code == 409
    done = client.post(
        f"/admin/notices/{ca}/step", data={"csrf_token": token, "step": "acknowledgement", "note": "emailed"}
    )
    assert done.status_code == 200 and "emailed" in done.text
    session.rollback()
    assert audit.page(session, action="notice.step")[0].details["step"] == "acknowledgement"
    clocks = {c["clock"]: c for c in takedown.detail(session, ca, settings).model_dump()["clocks"]}
    assert clocks["acknowledgement"]["met"] is True and clocks["status-update"]["due_at"] is not None


@pytest.fixture
def stay_down(monkeypatch: pytest.MonkeyPatch) -> FakeStayDown:
    fake = FakeStayDown()
    monkeypatch.setattr(takedown, "stay_down", fake)
    return fake


def test_near_duplicate_copies_are_decided_on_the_notice_page(
    signed_in: Callable[[str], TestClient], session: Session, settings: Settings, stay_down: FakeStayDown
) -> None:
    """The sweep's near-duplicates get remove / keep-up controls; Close waits until each is decided."""
    from moderation.takedown.staydown import Copy, RegisteredHashes
    from tests.takedown.conftest import submit

    stay_down.registry["c-1"] = RegisteredHashes("c-1", "a" * 64, "f" * 64)
    stay_down.copies = [
        Copy("c-3", "c" * 64, "e" + "f" * 63, 4, identical=False),
        Copy("c-4", "d" * 64, "ee" + "f" * 62, 8, identical=False),
    ]
    notice = submit(session, settings)
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    session.commit()
    copies = {c["content_id"]: c["id"] for c in takedown.copies_in_review(session, notice.id)}

    client = signed_in("reviewer")
    page = client.get(f"/admin/notices/{notice.id}").text
    assert page.count('class="copy-decision"') == 2 and 'id="undecided-copies"' in page
    assert 'value="close"' not in page
    token = form_token(page)
    base = f"/admin/notices/{notice.id}/copies"
    refused = client.post(f"{base}/{copies['c-4']}/dismiss", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 422 and "say why this copy stays up" in refused.text
    client.post(f"{base}/{copies['c-3']}/remove", data={"csrf_token": token, "reason": "same image"})
    client.post(f"{base}/{copies['c-4']}/dismiss", data={"csrf_token": token, "reason": "another photo"})
    page = client.get(f"/admin/notices/{notice.id}").text
    assert 'class="copy-decision"' not in page and 'id="undecided-copies"' not in page
    assert 'value="close"' in page
    session.commit()  # a fresh read, after the requests' own transactions
    states = {
        c["content_id"]: c["state"]
        for c in takedown.detail(session, notice.id, settings).model_dump()["copies"]
    }
    assert states == {"c-3": "removed", "c-4": "dismissed"}
    actions = [e.action for e in audit.for_subject(session, "notice", notice.id)]
    assert {"notice.copy_removed", "notice.copy_dismissed"} <= set(actions)
    assert all(
        e.actor.startswith("user:reviewer")
        for e in audit.for_subject(session, "notice", notice.id)
        if e.action.startswith("notice.copy_")
    )
