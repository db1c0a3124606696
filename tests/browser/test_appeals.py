"""In a real browser: the appeal queue and the decision page. The reviewer who removed the content
cannot decide its appeal; a second reviewer overturns it with reasons and the notice is restored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import transaction
from moderation.redress.schemas import AppealCreate
from moderation.redress.service import appeals
from moderation.takedown.service import takedown
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_basics import sign_in

pytestmark = pytest.mark.browser


def test_appeal_queue_and_decision_by_a_second_reviewer(
    browser_page: Any,
    make_user: Callable[..., str],
    make_notice: Callable[..., int],
    engine: Engine,
    settings: Settings,
) -> None:
    page = browser_page
    notice_id = make_notice(
        regimes=["terms-of-service"],
        fields={"reason": "harassment", "signature": "/s/ A. Person"},
        content={"content_ids": ["post-77"]},
    )
    with transaction(engine) as session:
        takedown.transition(session, notice_id, "validate", actor="user:rita", settings=settings)
        takedown.action(session, notice_id, actor="user:rita", reason="harassment", settings=settings)
        appeal, _ = appeals.file(
            session,
            AppealCreate.model_validate(
                {
                    "subject": {"type": "notice", "id": notice_id},
                    "appellant": {"role": "uploader", "name": "U. Ploader"},
                    "statement": "It is a quote from a film, not harassment.",
                }
            ),
            actor="apikey:platform",
            settings=settings,
        )
        appeal_id = appeal.id
    make_user("reviewer", "rita")
    make_user("reviewer", "victor")

    sign_in(page, "rita")
    page.click("header >> text=Appeals")
    row = page.locator(f"tr[data-appeal='{appeal_id}']")
    assert "the removal of your content" in row.inner_text()
    screenshot(page, "appeals")
    row.locator("a.button:has-text('Open')").click()
    page.wait_for_url(f"**/admin/appeals/{appeal_id}")
    assert "another reviewer must decide" in page.inner_text("main")
    page.check("input[name=outcome][value=overturn]")
    page.fill("textarea[name=reason]", "I removed it myself")
    page.click("#decide button[type=submit]")
    assert "someone other than who took the original decision" in page.inner_text("[role=alert]")
    screenshot(page, "appeal-refused-same-reviewer")

    page.context.clear_cookies()
    sign_in(page, "victor")
    page.goto(f"/admin/appeals/{appeal_id}")
    page.check("input[name=outcome][value=overturn]")
    page.fill("textarea[name=reason]", "A film quote: satire, not harassment.")
    page.click("#decide button[type=submit]")
    page.wait_for_url(f"**/admin/appeals/{appeal_id}")
    assert "overturned by user:victor" in page.inner_text("#decision")
    assert page.locator("#decide").count() == 0
    assert "appeal.overturned" in page.inner_text("main")
    screenshot(page, "appeal-overturned")

    page.goto(f"/admin/notices/{notice_id}")
    assert "restored" in page.inner_text("h1")
    assert f"appeal #{appeal_id} (uploader) overturned by user:victor" in page.inner_text("#redress")
    page.goto("/admin/appeals")
    assert page.locator(f"tr[data-appeal='{appeal_id}']").count() == 0
