"""In a real browser, a day's work: action a notice from the queue, review a shielded image (reveal,
then block with the keyboard), import a hash list. Screenshots of each page go to test-artifacts/."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from moderation.kit.time import utc_now
from tests.admin.conftest import generated_png
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_basics import sign_in

pytestmark = pytest.mark.browser


def test_action_a_notice_from_the_queue(
    browser_page: Any, make_user: Callable[..., str], make_notice: Callable[..., int]
) -> None:
    page = browser_page
    make_notice(regimes=["eu-tco"], fields={}, statements={}, channel="api")
    make_notice(received_at=(utc_now() - timedelta(days=3)).isoformat())
    notice_id = make_notice(content={"content_ids": ["post-981"]})
    sign_in(page, make_user("reviewer", "rita"))
    screenshot(page, "overview-with-notices")

    page.click("header >> text=Takedowns")
    row = page.locator(f"tr[data-notice='{notice_id}']")
    assert "left" in row.locator(".countdown").inner_text()
    assert page.locator("tr.overdue").count() == 1
    screenshot(page, "notices")

    row.locator("text=Open").click()
    page.wait_for_url(f"**/admin/notices/{notice_id}")
    page.click("button:has-text('Validate')")
    page.fill("form:has(#action) input[name=reason]", "reported image confirmed")
    page.click("#action")
    page.wait_for_url(f"**/admin/notices/{notice_id}")
    assert "actioned" in page.inner_text("h1")
    screenshot(page, "notice-actioned")

    page.click("header >> text=Takedowns")
    assert page.locator(f"tr[data-notice='{notice_id}']").count() == 0
    page.click("header >> text=Audit log")
    page.fill("form.filters input[name=subject_id]", str(notice_id))
    page.click("form.filters button")
    audit_text = page.inner_text("table.audit")
    assert "notice.action" in audit_text and "user:rita" in audit_text


def test_review_a_shielded_item_reveal_and_block(
    browser_page: Any,
    make_user: Callable[..., str],
    make_notice: Callable[..., int],
    make_review_item: Callable[..., int],
) -> None:
    page = browser_page
    data = generated_png(21, size=240)
    make_notice(content={"image_base64": base64.b64encode(data).decode()})
    check_id = make_review_item(21, data=data, prompt="a stained-glass window of a fox")
    next_id = make_review_item(22)
    sign_in(page, make_user("reviewer", "rob"))

    page.click("header >> text=Review")
    screenshot(page, "review")
    page.click(f"tr[data-check='{check_id}'] a")
    page.wait_for_url(f"**/admin/content/{check_id}")
    image = page.locator("figure.shielded img")
    image.evaluate("img => img.decode()")
    assert "blur" in image.evaluate("img => getComputedStyle(img).filter")
    assert "view=full" not in (image.get_attribute("src") or "")
    screenshot(page, "content-shielded")

    page.keyboard.press("r")
    page.wait_for_selector("figure.shielded.revealed")
    assert (image.get_attribute("src") or "").endswith("view=full")
    image.evaluate("img => img.decode()")
    # The un-blur is a short CSS transition.
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('figure.shielded img')).filter === 'none'"
    )
    assert image.evaluate("img => img.naturalWidth") == 240
    screenshot(page, "content-revealed")

    page.keyboard.press("b")
    page.wait_for_url(f"**/admin/content/{next_id}")
    page.goto("/admin/review?state=decided")
    assert "blocked" in page.inner_text(f"tr[data-check='{check_id}']")
    page.goto("/admin/audit?actor=user:rob")
    audit_text = page.inner_text("table.audit")
    assert "evidence.reveal" in audit_text and "review.block" in audit_text


def test_import_a_small_hash_list(
    browser_page: Any, make_user: Callable[..., str], make_bank: Callable[..., str], tmp_path: Any
) -> None:
    page = browser_page
    make_bank("partner-list")
    hash_list = tmp_path / "partner.txt"
    hash_list.write_text(
        "# from a partner\n" + "\n".join(f"{i:064x}" for i in range(1, 6)) + "\nnot-a-hash\n"
    )
    sign_in(page, make_user("admin", "ada"))
    page.click("header >> text=Banks")
    screenshot(page, "banks")
    page.click("text=partner-list")
    page.set_input_files("#import input[name=file]", str(hash_list))
    page.click("#import button")
    report = page.inner_text("#import-report")
    assert "5 hashes imported" in report and "line 7" in report
    assert page.locator("table.entries tbody tr").count() == 5
    screenshot(page, "bank-imported")
