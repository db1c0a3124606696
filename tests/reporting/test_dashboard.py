"""The dashboard's report case pages: reporter users only (admins refused), file views recorded."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.models.audit_event import AuditEvent
from tests.admin.conftest import form_token, sign_in
from tests.reporting.conftest import placeholder, upload

Auth = Callable[[str], dict[str, str]]


def test_reporter_users_see_cases_view_files_and_confirm_others_are_refused(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    make_user: Callable[..., str],
    engine: Engine,
    session: Session,
) -> None:
    data = placeholder(31)
    csam_bank(data)
    upload(client, auth("checker"), data, content_id="p-31", uploader_id="u-31")

    sign_in(client, make_user("admin", username="root-admin"))
    assert client.get("/admin/reporting").status_code == 403
    assert client.get("/admin/reporting/1").status_code == 403
    client.cookies.clear()

    sign_in(client, make_user("reporter", username="dana"))
    landing = client.get("/admin", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == "/admin/reporting"
    listing = client.get("/admin/reporting")
    assert listing.status_code == 200 and 'href="/admin/reporting/1"' in listing.text
    page = client.get("/admin/reporting/1")
    assert page.status_code == 200 and "View file" in page.text and "not filed" in page.text
    token = form_token(page.text)
    refused = client.post("/admin/reporting/1/files/1/view", data={})
    assert refused.status_code in (400, 403)
    shown = client.post("/admin/reporting/1/files/1/view", data={"csrf_token": token})
    assert shown.status_code == 200 and shown.content == data
    assert "user:dana" in client.get("/admin/reporting/1").text
    confirmed = client.post("/admin/reporting/1/confirm", data={"csrf_token": token}, follow_redirects=False)
    assert confirmed.status_code == 303
    assert "confirmed" in client.get("/admin/reporting/1").text
    viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "reporting.file_viewed")).one()
    assert viewed.actor == "user:dana"
