"""In a real browser: sign in, see the overview, verify the audit chain, manage keys, sign out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.admin.conftest import PASSWORD
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Any, username: str) -> None:
    page.goto("/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin")


def test_sign_in_verify_chain_create_key_sign_out(browser_page: Any, make_user: Callable[..., str]) -> None:
    page = browser_page
    page.goto("/admin/login")
    screenshot(page, "login")
    sign_in(page, make_user("admin", "alice"))
    assert "alice" in page.inner_text("header")
    screenshot(page, "overview")

    page.click("text=Audit log")
    page.click("text=Verify now")
    assert "Hash chain intact" in page.inner_text("main")
    assert "admin.login" in page.inner_text("table.audit")
    screenshot(page, "audit")

    page.click("text=Users & keys")
    page.fill("form[action='/admin/apikeys'] input[name=name]", "uploader")
    page.click("form[action='/admin/apikeys'] button")
    key = page.inner_text("#new-key")
    assert key.startswith("mod_")
    screenshot(page, "users")

    page.click("text=Sign out")
    page.wait_for_url("**/admin/login")
    page.goto("/admin")
    assert page.url.endswith("/admin/login")
