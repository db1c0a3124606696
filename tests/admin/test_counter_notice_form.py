"""The counter-notice form on the notice page: shown only where a counter-notice is possible, checked
like the API (every missing statutory element named next to its field, nothing stored), CSRF-guarded,
reviewers and admins only; a complete one starts the restore window and the claimant's copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import transaction
from moderation.takedown.service import takedown
from tests.admin.conftest import form_token

DMCA_FIELDS = {
    "signature": "/s/ R. Holder",
    "copyrighted_work": "my photo",
    "infringing_material_location": "https://platform.example/p/77",
    "contact": "rights.holder@example.org",
    "good_faith_statement": "good faith",
    "accuracy_statement": "accurate",
}
COMPLETE = {
    "signature": "/s/ U. Ploader",
    "material": "holiday.jpg, formerly at https://platform.example/p/77",
    "good_faith_statement": "Removed by mistake: it is my own photo.",
    "perjury_acknowledged": "yes",
    "jurisdiction_consent": "yes",
    "name": "U. Ploader",
    "address": "1 Main St, Springfield",
    "phone": "+1 555 0100",
    "email": "uploader@example.org",
}


def removed_dmca_notice(make_notice: Callable[..., int], engine: Engine, settings: Settings) -> int:
    notice_id = make_notice(regimes=["us-dmca"], fields=DMCA_FIELDS, content={"content_ids": ["p-77"]})
    with transaction(engine) as session:
        takedown.transition(session, notice_id, "validate", actor="user:rita", settings=settings)
        takedown.action(session, notice_id, actor="user:rita", reason="valid notice", settings=settings)
    return notice_id


def test_counter_notice_form_validates_like_the_api_and_files_a_complete_one(
    signed_in: Callable[[str], TestClient],
    make_notice: Callable[..., int],
    engine: Engine,
    settings: Settings,
) -> None:
    other = make_notice(regimes=["terms-of-service"], fields={"reason": "spam", "signature": "s"})
    notice_id = removed_dmca_notice(make_notice, engine, settings)
    client = signed_in("reviewer")
    assert 'id="counter-notice"' not in client.get(f"/admin/notices/{other}").text
    page = client.get(f"/admin/notices/{notice_id}")
    assert 'id="counter-notice"' in page.text
    token = form_token(page.text)
    url = f"/admin/notices/{notice_id}/counter-notices"

    refused = client.post(url, data={k: v for k, v in COMPLETE.items() if k != "signature"})
    assert refused.status_code == 403  # no CSRF token

    partial = {**COMPLETE, "signature": " ", "perjury_acknowledged": "", "csrf_token": token}
    shown = client.post(url, data=partial)
    assert shown.status_code == 422
    assert 'data-missing="signature"' in shown.text and 'data-missing="perjury_acknowledged"' in shown.text
    assert 'data-missing="name"' not in shown.text
    assert "missing signature, perjury_acknowledged" in shown.text
    assert "U. Ploader" in shown.text  # what was typed is kept
    bad_email = client.post(url, data={**COMPLETE, "email": "not-an-address", "csrf_token": token})
    assert bad_email.status_code == 422 and 'data-missing="email"' in bad_email.text
    with transaction(engine) as session:
        assert takedown.get(session, notice_id).state == "actioned"

    hostile = {**COMPLETE, "material": "<script>alert(1)</script>", "csrf_token": token}
    filed = client.post(url, data=hostile, follow_redirects=False)
    assert filed.status_code == 303, filed.text
    after = client.get(f"/admin/notices/{notice_id}")
    assert "counter-notice #" in after.text and "restore from" in after.text
    assert 'id="counter-notice"' not in after.text  # the notice is counter-noticed now
    assert "<script>alert(1)</script>" not in after.text
    with transaction(engine) as session:
        assert takedown.get(session, notice_id).state == "counter_noticed"
    again = client.post(url, data={**COMPLETE, "csrf_token": token})
    assert again.status_code == 409


def test_counter_notice_form_is_for_reviewers_and_admins(
    signed_in: Callable[[str], TestClient],
    make_notice: Callable[..., int],
    engine: Engine,
    settings: Settings,
) -> None:
    notice_id = removed_dmca_notice(make_notice, engine, settings)
    auditor = signed_in("auditor")
    page: Any = auditor.get(f"/admin/notices/{notice_id}")
    assert 'id="counter-notice"' not in page.text
    refused = auditor.post(
        f"/admin/notices/{notice_id}/counter-notices", data={**COMPLETE, "csrf_token": form_token(page.text)}
    )
    assert refused.status_code == 403
    missing = auditor.post(
        "/admin/notices/999999/counter-notices", data={"csrf_token": form_token(page.text)}
    )
    assert missing.status_code in (403, 404)
