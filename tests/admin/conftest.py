"""Dashboard test helpers: users of each role and a signed-in TestClient."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD

__all__ = ["PASSWORD", "form_token", "sign_in"]


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def signed_in(app_client: TestClient, make_user: Callable[..., str]) -> Callable[[str], TestClient]:
    """`signed_in("reviewer")` -> the app client signed in as a new user of that role."""

    def _sign_in(role: str) -> TestClient:
        return sign_in(app_client, make_user(role))

    return _sign_in
