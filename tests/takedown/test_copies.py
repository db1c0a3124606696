"""Near-duplicates the sweep leaves in review: remove under the same notice, or dismiss with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.takedown.service import takedown
from moderation.takedown.staydown import Copy, RegisteredHashes
from tests.factories import encode, jpeg, picture, post_check
from tests.takedown.conftest import COMPLETE_TID, T0, FakeStayDown, submit

Auth = Callable[[str], dict[str, str]]
SHA, PDQ = "a" * 64, "f" * 64
RECORD = {"appeal_id": 1}
NEAR_SHA, NEAR_PDQ = "c" * 64, "e" + "f" * 63


@pytest.fixture
def actioned(session: Session, settings: Settings, fake_stay_down: FakeStayDown) -> tuple[int, int]:
    """A TAKE IT DOWN notice (identical copies only) whose sweep left one near-duplicate in review."""
    set_clock(T0)
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", SHA, PDQ)
    fake_stay_down.copies = [Copy("c-3", NEAR_SHA, NEAR_PDQ, 4, identical=False)]
    notice = submit(session, settings)
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    [copy] = takedown.copies_in_review(session, notice.id)
    return int(notice.id), int(copy["id"])


def _codes(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ModerationError) as caught:
        call()
    return caught.value.status, caught.value.code


def test_remove_copy_actions_it_under_the_notice(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown, actioned: tuple[int, int]
) -> None:
    notice_id, copy_id = actioned
    banked_before = len(fake_stay_down.banked)
    set_clock(T0 + timedelta(hours=3))
    takedown.remove_copy(
        session, notice_id, copy_id, actor="apikey:rev", reason="same image", settings=settings
    )
    detail = takedown.detail(session, notice_id, settings).model_dump()

    [copy] = detail["copies"]
    assert copy["state"] == "removed" and copy["reviewed_by"] == "apikey:rev"
    assert copy["review_reason"] == "same image" and copy["reviewed_at"] == T0 + timedelta(hours=3)
    assert [(d["action"], d["content_ref"]) for d in detail["deliveries"]] == [
        ("remove", "content:c-1"),
        ("remove", "content:c-3"),
    ]
    assert fake_stay_down.removed == ["c-1", "c-3"]
    assert fake_stay_down.banked[banked_before:] == [("sha256", NEAR_SHA), ("pdq", NEAR_PDQ)]
    assert detail["sweep"]["near_duplicates"] == [
        {"content_id": "c-3", "distance": 4, "action": "removed", "reviewed_by": "apikey:rev"}
    ]
    [kept] = [e for e in detail["evidence"] if e["details"].get("content_id") == "c-3"]
    assert {h["kind"] for h in kept["holds"]} >= {"case"}
    [event] = [e for e in detail["timeline"] if e["action"] == "notice.copy_removed"]
    assert event["actor"] == "apikey:rev" and event["details"]["reason"] == "same image"
    assert takedown.copies_in_review(session, notice_id) == []


def test_restore_disables_the_entries_of_a_reviewed_copy(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    set_clock(T0)
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", SHA, PDQ)
    fake_stay_down.copies = [Copy("c-3", NEAR_SHA, NEAR_PDQ, 4, identical=False)]
    notice = submit(session, settings, regimes=["terms-of-service"], fields={"reason": "spam"})
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    [copy] = takedown.copies_in_review(session, notice.id)
    takedown.remove_copy(session, notice.id, copy["id"], actor="admin", settings=settings)
    takedown.apply_redress(session, notice.id, "appeal", record=RECORD, actor="admin", settings=settings)
    takedown.apply_redress(
        session, notice.id, "restore", record=RECORD, actor="admin", reason="appeal ok", settings=settings
    )

    # c-1: sha256 and pdq (entries 1, 2); c-3: sha256 and pdq (entries 3, 4).
    assert sorted(fake_stay_down.disabled) == [1, 2, 3, 4]
    detail = takedown.detail(session, notice.id, settings).model_dump()
    assert {c["state"] for c in detail["content"] + detail["copies"]} == {"restored"}
    [event] = [e for e in detail["timeline"] if e["action"] == "notice.stay_down_disabled"]
    assert event["details"]["notice_id"] == notice.id and event["details"]["reason"] == "appeal ok"


def test_dismiss_copy_needs_a_reason_and_is_final(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown, actioned: tuple[int, int]
) -> None:
    notice_id, copy_id = actioned
    assert _codes(
        lambda: takedown.dismiss_copy(session, notice_id, copy_id, actor="a", reason=" ", settings=settings)
    ) == (422, "reason_required")
    takedown.dismiss_copy(
        session, notice_id, copy_id, actor="apikey:rev", reason="different photo", settings=settings
    )
    detail = takedown.detail(session, notice_id, settings).model_dump()
    assert detail["copies"][0]["state"] == "dismissed" and len(detail["deliveries"]) == 1
    assert detail["sweep"]["near_duplicates"][0]["action"] == "dismissed"
    assert "c-3" not in fake_stay_down.removed
    [event] = [e for e in detail["timeline"] if e["action"] == "notice.copy_dismissed"]
    assert event["details"] == {
        "copy_id": copy_id,
        "content_id": "c-3",
        "distance": 4,
        "reason": "different photo",
    }

    again = _codes(lambda: takedown.remove_copy(session, notice_id, copy_id, actor="b", settings=settings))
    assert again == (409, "copy_not_in_review")
    assert _codes(
        lambda: takedown.dismiss_copy(session, notice_id, copy_id, actor="b", reason="x", settings=settings)
    ) == (409, "copy_not_in_review")


def test_illegal_states_and_unknown_copies(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown, actioned: tuple[int, int]
) -> None:
    notice_id, copy_id = actioned
    [reported] = takedown.detail(session, notice_id, settings).model_dump()["content"]
    other = submit(session, settings, client_reference="other")
    for wrong_notice, wrong_copy in ((notice_id, reported["id"]), (other.id, copy_id), (notice_id, 10**9)):
        assert _codes(
            lambda n=wrong_notice, c=wrong_copy: takedown.remove_copy(
                session, n, c, actor="a", settings=settings
            )
        ) == (404, "notice_copy_not_found")
    assert _codes(lambda: takedown.remove_copy(session, 10**9, copy_id, actor="a", settings=settings)) == (
        404,
        "notice_not_found",
    )
    close = lambda: takedown.transition(session, notice_id, "close", actor="admin", settings=settings)  # noqa: E731
    assert _codes(close) == (409, "copies_undecided")
    takedown.dismiss_copy(session, notice_id, copy_id, actor="a", reason="not the same", settings=settings)
    close()
    assert _codes(
        lambda: takedown.remove_copy(session, notice_id, copy_id, actor="a", settings=settings)
    ) == (
        409,
        "copy_not_in_review",
    )


def test_remove_a_near_duplicate_over_http_blocks_its_reupload(app_client: TestClient, auth: Auth) -> None:
    checker, admin = auth("checker"), auth("admin")
    for data, content_id in (
        (jpeg(61), "post-61"),
        (encode(picture(61).resize((600, 450)), quality=70), "near-61"),
    ):
        assert post_check(app_client, checker, data, {"content_id": content_id}).json()["decision"] == "allow"
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["post-61"]},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    ).json()
    url = f"/v1/notices/{created['id']}"
    app_client.post(f"{url}/validate", headers=admin)
    detail = app_client.post(f"{url}/action", headers=admin).json()
    [near] = detail["copies"]
    assert near["content_id"] == "near-61" and near["state"] == "review"

    missing_reason = app_client.post(f"{url}/copies/{near['id']}/dismiss", json={}, headers=admin)
    assert missing_reason.status_code == 422 and missing_reason.json()["code"] == "validation_error"
    removed = app_client.post(f"{url}/copies/{near['id']}/remove", json={"reason": "same"}, headers=admin)
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert body["copies"][0]["state"] == "removed"
    assert [d["content_ref"] for d in body["deliveries"]] == ["content:post-61", "content:near-61"]
    twice = app_client.post(f"{url}/copies/{near['id']}/remove", headers=admin)
    assert twice.status_code == 409 and twice.json()["code"] == "copy_not_in_review"
    unknown = app_client.post(f"{url}/copies/999999/dismiss", json={"reason": "x"}, headers=admin)
    assert unknown.status_code == 404 and unknown.json()["code"] == "notice_copy_not_found"

    # The copy's own hashes are in the stay-down bank now (its exact bytes are blocked by SHA-256).
    sha = body["copies"][0]["sha256"]
    banked = app_client.get(f"/v1/banks/stay-down/entries?hash_type=sha256&value={sha}", headers=admin)
    assert [e["metadata"]["notice_id"] for e in banked.json()["items"]] == [created["id"]]


def test_the_sweep_searches_pdq_distance_31_and_no_further(
    session: Session, settings: Settings, fake_stay_down: FakeStayDown
) -> None:
    """The sweep asks the registry for copies within PDQ distance 31: one at 31 is found, one at 32 is
    not (the fake registry honours the radius it is asked for, as the real one does)."""
    set_clock(T0)
    fake_stay_down.registry["c-1"] = RegisteredHashes("c-1", SHA, PDQ)
    fake_stay_down.copies = [
        Copy("c-31", "d" * 64, NEAR_PDQ, 31, identical=False),
        Copy("c-32", "e" * 64, NEAR_PDQ, 32, identical=False),
    ]
    notice = submit(session, settings)
    takedown.transition(session, notice.id, "validate", actor="admin", settings=settings)
    takedown.action(session, notice.id, actor="admin", settings=settings)
    detail = takedown.detail(session, notice.id, settings).model_dump()
    assert [(c["content_id"], c["distance"]) for c in detail["copies"]] == [("c-31", 31)]
    assert [row["content_id"] for row in detail["sweep"]["near_duplicates"]] == ["c-31"]


def test_a_notice_with_undecided_copies_cannot_be_closed(
    session: Session, settings: Settings, actioned: tuple[int, int]
) -> None:
    """Once closed, a copy could no longer be removed: closing waits until every copy is decided."""
    notice_id, copy_id = actioned
    close = lambda: takedown.transition(session, notice_id, "close", actor="admin", settings=settings)  # noqa: E731
    assert _codes(close) == (409, "copies_undecided")
    assert takedown.get(session, notice_id).state == "actioned"
    takedown.dismiss_copy(
        session, notice_id, copy_id, actor="admin", reason="a different photo", settings=settings
    )
    assert close().state == "closed"
