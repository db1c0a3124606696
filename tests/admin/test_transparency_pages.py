"""Transparency dashboard pages without a browser: period errors, unknown statements, role access."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_period_errors_and_unknown_statement(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("reviewer")
    page = client.get("/admin/transparency")
    assert (
        page.status_code == 200 and "Transparency report" in page.text and "None in this period." in page.text
    )
    reversed_ = client.get("/admin/transparency?from=2026-11-05&to=2026-11-01")
    assert reversed_.status_code == 400 and "--to is before --from" in reversed_.text
    malformed = client.get("/admin/transparency?from=nope")
    assert malformed.status_code == 400 and "YYYY-MM-DD" in malformed.text
    assert client.get("/admin/statements/424242").status_code == 404


def test_pages_need_a_signed_in_user(app_client: TestClient) -> None:
    response = app_client.get("/admin/transparency", follow_redirects=False)
    assert response.status_code in (302, 303, 307) and "/admin/login" in response.headers["location"]
