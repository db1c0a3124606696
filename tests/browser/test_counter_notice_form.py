"""In a real browser: a reviewer enters a counter-notice on the notice page. An incomplete one is
refused with each missing statutory element named next to its field and what was typed kept; the
complete one is recorded and the notice shows its restore window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from moderation.config import Settings
from tests.admin.test_counter_notice_form import removed_dmca_notice
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_basics import sign_in

pytestmark = pytest.mark.browser


def test_counter_notice_entry_shows_missing_elements_then_records_it(
    browser_page: Any,
    make_user: Callable[..., str],
    make_notice: Callable[..., int],
    engine: Engine,
    settings: Settings,
) -> None:
    page = browser_page
    notice_id = removed_dmca_notice(make_notice, engine, settings)
    sign_in(page, make_user("reviewer", "rita"))
    page.goto(f"/admin/notices/{notice_id}")
    page.click("#counter-notice summary")
    form = page.locator("#counter-notice form")
    form.locator("input[name=signature]").fill("/s/ U. Ploader")
    form.locator("textarea[name=material]").fill("holiday.jpg, formerly at https://platform.example/p/77")
    form.locator("input[name=name]").fill("U. Ploader")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")

    alert = page.inner_text("[role=alert]")
    assert "lacks statutory elements" in alert and "good_faith_statement" in alert
    missing = sorted(page.locator("[data-missing]").evaluate_all("els => els.map(e => e.dataset.missing)"))
    assert missing == sorted(
        ["good_faith_statement", "perjury_acknowledged", "jurisdiction_consent", "address", "phone"]
    )
    assert page.locator("#counter-notice").get_attribute("open") is not None
    assert form.locator("input[name=signature]").input_value() == "/s/ U. Ploader"
    screenshot(page, "counter-notice-incomplete")

    form.locator("textarea[name=good_faith_statement]").fill("Removed by mistake: it is my own photo.")
    form.locator("input[name=perjury_acknowledged]").check()
    form.locator("input[name=jurisdiction_consent]").check()
    form.locator("textarea[name=address]").fill("1 Main St, Springfield")
    form.locator("input[name=phone]").fill("+1 555 0100")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/admin/notices/{notice_id}#redress")
    redress = page.inner_text("#redress")
    assert "counter-notice #" in redress and "waiting" in redress and "restore from" in redress
    assert page.locator("#counter-notice").count() == 0
    assert page.locator("[role=alert]").count() == 0
    screenshot(page, "counter-notice-recorded")
