"""Dashboard sign-in, sessions, CSRF, lock-out and role checks over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import audit
from moderation.cli import app as cli
from moderation.config import Settings
from tests.admin.conftest import PASSWORD, form_token, sign_in


def test_pages_redirect_to_login_without_a_session(app_client: TestClient) -> None:
    for path in ("/admin", "/admin/audit", "/admin/users"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_sign_in_sign_out_and_audit_trail(
    app_client: TestClient, make_user: Callable[..., str], session: Session
) -> None:
    sign_in(app_client, make_user("reviewer", "rita"))
    overview = app_client.get("/admin")
    assert overview.status_code == 200 and "rita" in overview.text
    cookie = app_client.cookies.get("moderation_session")
    assert cookie
    response = app_client.post(
        "/admin/logout", data={"csrf_token": form_token(overview.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    # The old cookie no longer works even if a browser kept it.
    app_client.cookies.set("moderation_session", cookie, path="/admin")
    assert app_client.get("/admin", follow_redirects=False).status_code == 303
    actions = [e.action for e in audit.page(session, subject_type="user", subject_id="rita")]
    assert actions[:2] == ["admin.logout", "admin.login"]


def test_wrong_password_is_refused_and_audited(
    app_client: TestClient, make_user: Callable[..., str], session: Session
) -> None:
    make_user("admin", "ann")
    page = app_client.get("/admin/login")
    response = app_client.post(
        "/admin/login", data={"username": "ann", "password": "nope", "csrf_token": form_token(page.text)}
    )
    assert response.status_code == 401 and "wrong username or password" in response.text
    assert audit.page(session, action="admin.login_failed")[0].subject_id == "ann"


def test_login_without_csrf_token_is_rejected(app_client: TestClient, make_user: Callable[..., str]) -> None:
    make_user("admin", "cy")
    app_client.get("/admin/login")
    response = app_client.post(
        "/admin/login", data={"username": "cy", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403 and "Form expired" in response.text


def test_forms_without_csrf_token_are_rejected(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("admin")
    response = client.post("/admin/users", data={"username": "x", "role": "reviewer", "password": "p" * 12})
    assert response.status_code == 403
    response = client.post("/admin/audit/verify", data={"csrf_token": "wrong"})
    assert response.status_code == 403


def test_reviewer_cannot_open_admin_pages(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("reviewer")
    assert client.get("/admin/users").status_code == 403
    token = form_token(client.get("/admin").text)
    response = client.post("/admin/apikeys", data={"name": "k", "role": "admin", "csrf_token": token})
    assert response.status_code == 403


def test_auditor_reads_but_cannot_manage(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("auditor")
    assert client.get("/admin/audit").status_code == 200
    token = form_token(client.get("/admin").text)
    response = client.post(
        "/admin/users", data={"username": "x", "role": "admin", "password": "p" * 12, "csrf_token": token}
    )
    assert response.status_code == 403


def test_admin_manages_users_and_keys(signed_in: Callable[[str], TestClient], session: Session) -> None:
    client = signed_in("admin")
    token = form_token(client.get("/admin/users").text)
    response = client.post(
        "/admin/users",
        data={"username": "newbie", "role": "reviewer", "password": "p" * 12, "csrf_token": token},
    )
    assert response.status_code == 200 and "newbie" in response.text
    response = client.post(
        "/admin/apikeys", data={"name": "uploader", "role": "checker", "csrf_token": token}
    )
    assert response.status_code == 200 and "shown only once" in response.text
    assert "uploader" in client.get("/admin/users").text
    weak = client.post(
        "/admin/users", data={"username": "w", "role": "reviewer", "password": "short", "csrf_token": token}
    )
    assert weak.status_code == 422 and "at least 12" in weak.text
    actions = {e.action for e in audit.page(session, limit=20)}
    assert {"user.create", "apikey.create"} <= actions


def test_audit_page_filters_and_verifies_chain(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("admin")
    page = client.get("/admin/audit", params={"action": "admin.login"})
    assert page.status_code == 200 and "admin.login" in page.text and "user.create" not in page.text
    client.post("/admin/audit/verify", data={"csrf_token": form_token(page.text)})
    assert "Hash chain intact" in client.get("/admin/audit").text


def test_cli_user_create_reads_password_from_stdin(settings: Settings) -> None:
    outcome = CliRunner().invoke(
        cli, ["user", "create", "carol", "--role", "auditor"], input="a long enough password\n"
    )
    assert outcome.exit_code == 0, outcome.output
    bad = CliRunner().invoke(
        cli, ["user", "create", "dave", "--role", "superuser"], input="a long enough password\n"
    )
    assert bad.exit_code == 1 and "unknown role" in bad.output
