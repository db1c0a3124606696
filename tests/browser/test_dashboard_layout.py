"""In a real browser, every dashboard page at a laptop (1366 px) and a phone (414 px) width: nothing
wider than the window, nothing spilling out of its card or the header, and no failed requests (the
favicon included). Tables too wide for a phone scroll inside their own box, not the page."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from moderation.config import Settings
from tests.admin.conftest import generated_png
from tests.admin.test_counter_notice_form import removed_dmca_notice
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_basics import sign_in

pytestmark = pytest.mark.browser

# Page-level overflow, and any element whose box leaves its card (or the header) unless a scrolling
# box between them contains it.
OVERFLOW_JS = """
() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) {
    problems.push(`page is ${doc.scrollWidth}px wide in a ${doc.clientWidth}px window`);
  }
  const scrolls = (el) => {
    const overflow = getComputedStyle(el).overflowX;
    return overflow === 'auto' || overflow === 'scroll' || overflow === 'hidden';
  };
  for (const box of document.querySelectorAll('.card, header.top, main')) {
    const outer = box.getBoundingClientRect();
    for (const el of box.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      let clipped = false;
      for (let p = el.parentElement; p && p !== box; p = p.parentElement) {
        if (scrolls(p)) { clipped = true; break; }
      }
      if (clipped) continue;
      if (r.right > outer.right + 1 || r.left < outer.left - 1) {
        const label = (node) => node.tagName.toLowerCase()
          + (node.className ? '.' + String(node.className).replace(/ /g, '.') : '');
        const span = (b) => `[${Math.round(b.left)}..${Math.round(b.right)}]`;
        problems.push(`${label(el)} ${span(r)} leaves ${label(box)} ${span(outer)}`);
        break;
      }
    }
  }
  return problems;
}
"""

WIDTHS = {"laptop": (1366, 768), "phone": (414, 896)}


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_no_page_overflows_at_laptop_and_phone_widths(
    device: str,
    browser_page: Any,
    make_user: Callable[..., str],
    make_notice: Callable[..., int],
    make_review_item: Callable[..., int],
    make_bank: Callable[..., str],
    engine: Engine,
    settings: Settings,
) -> None:
    page = browser_page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    png = base64.b64encode(generated_png(3)).decode()
    long_ids = [f"post-{'x' * 60}-{i}" for i in range(3)]
    notice_id = make_notice(
        regimes=["us-take-it-down"],
        content={
            "content_ids": long_ids,
            "urls": ["https://uploads.example.org/" + "very-long-path-segment/" * 6 + "image.png"],
            "images": [png],
        },
    )
    check_id = make_review_item(seed=5)
    dmca_id = removed_dmca_notice(make_notice, engine, settings)  # shows the counter-notice form
    make_bank("a-bank-with-a-rather-long-name-for-layout")
    page.set_viewport_size({"width": 1280, "height": 860})
    sign_in(page, make_user("admin", "ada"))
    # Enough audit rows to fill the log page: validate and action the notice through the page.
    page.goto(f"/admin/notices/{notice_id}")
    page.click("button:has-text('Validate')")
    page.fill("form:has(#action) input[name=reason]", "reported image confirmed")
    page.click("#action")
    page.wait_for_url(f"**/admin/notices/{notice_id}")

    width, height = WIDTHS[device]
    page.set_viewport_size({"width": width, "height": height})
    pages = [
        "/admin",
        "/admin/notices",
        "/admin/notices/new",
        f"/admin/notices/{notice_id}",
        f"/admin/notices/{dmca_id}",
        "/admin/review",
        f"/admin/content/{check_id}",
        "/admin/banks",
        "/admin/banks/a-bank-with-a-rather-long-name-for-layout",
        "/admin/audit",
        "/admin/users",
    ]
    problems: dict[str, list[str]] = {}
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(OVERFLOW_JS)
        if found:
            problems[path] = found
        if path == f"/admin/notices/{dmca_id}":
            page.click("#counter-notice summary")  # the form open, as a reviewer fills it in
            if found := page.evaluate(OVERFLOW_JS):
                problems[f"{path} (counter-notice form)"] = found
        screenshot(page, f"layout-{device}-{path.strip('/').replace('/', '-') or 'root'}")
    page.context.clear_cookies()
    page.goto("/admin/login")
    page.wait_for_load_state("networkidle")
    if found := page.evaluate(OVERFLOW_JS):
        problems["/admin/login"] = found
    assert problems == {}
    assert failed == []
