"""In a real browser: the transparency page shows the period's restrictions, each figure opens its
records, and a record opens the statement as the user sees it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from moderation.banks.service import banks
from moderation.db import session_factory
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_basics import sign_in
from tests.factories import jpeg

pytestmark = pytest.mark.browser


def _blocked(base: str, key: str, engine: Engine, count: int) -> list[dict[str, Any]]:
    with session_factory(engine)() as session:
        banks.create(session, name="known-bad", action="block", actor="test")
        banks.add_image(session, "known-bad", jpeg(31), source="upload", note="t", metadata={}, actor="test")
        session.commit()
    shown: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    for i in range(count):
        while True:
            response = httpx.post(
                f"{base}/v1/check",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("a.jpg", jpeg(31), "image/jpeg")},
                data={"metadata": f'{{"content_id": "web-{i}"}}'},
                timeout=30,
            )
            body = response.json()
            if body["decision"] == "block" or time.monotonic() > deadline:
                break
            time.sleep(0.3)  # the server's match index picks up the new bank entry
        assert body["decision"] == "block", body
        shown.append(body["statement"])
    return shown


def test_transparency_page_traces_each_figure_to_its_statements(
    browser_page: Any,
    live_server: str,
    make_user: Callable[..., str],
    make_key: Callable[..., str],
    engine: Engine,
) -> None:
    statements = _blocked(live_server, make_key("checker"), engine, 3)
    page = browser_page
    sign_in(page, make_user("reviewer", "rae"))
    page.click("nav >> text=Transparency")
    page.wait_for_url("**/admin/transparency")
    assert page.inner_text("[data-testid=restrictions-total]") == "3"
    row = page.locator("[data-section=restrictions_by_kind] tr[data-key=check_block]")
    assert row.locator("td.count").inner_text() == "3"
    row.locator("summary").click()
    links = row.locator("details a")
    assert sorted(links.all_inner_texts()) == sorted(f"#{s['id']}" for s in statements)
    screenshot(page, "transparency")
    submission = page.inner_text("[data-section=submission]")
    assert "pending: 3" in submission

    links.first.click()
    page.wait_for_url("**/admin/statements/*")
    text = page.inner_text("main")
    assert any(s["puid"] in text for s in statements)
    assert "STATEMENT_CATEGORY_OTHER_VIOLATION_TC" in text and "complaint" in text
    screenshot(page, "statement")

    page.goto("/admin/transparency?from=2026-13-01&to=2026-11-01")
    assert "YYYY-MM-DD" in page.inner_text("[role=alert]")
