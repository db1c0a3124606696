"""The overview: open notices, due soon, overdue, and per-regime time to action and share within
deadline over 30 days, drawn as inline SVG bars."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.kit.time import utc_now
from moderation.takedown.service import takedown


def _act(session: Session, settings: Settings, notice_id: int) -> None:
    takedown.transition(session, notice_id, "validate", actor="test", settings=settings)
    takedown.action(session, notice_id, actor="test", settings=settings)
    session.commit()


def test_counts_and_charts(
    signed_in: Callable[[str], TestClient],
    make_notice: Callable[..., int],
    session: Session,
    settings: Settings,
) -> None:
    make_notice()  # due in 48 hours
    make_notice(received_at=(utc_now() - timedelta(hours=30)).isoformat())  # due within 24 hours
    make_notice(received_at=(utc_now() - timedelta(days=3)).isoformat())  # overdue
    _act(session, settings, make_notice(received_at=(utc_now() - timedelta(hours=10)).isoformat()))
    _act(session, settings, make_notice(received_at=(utc_now() - timedelta(days=4)).isoformat()))

    metrics = takedown.overview(session)
    (tid,) = metrics["regimes"]
    assert (metrics["open"], metrics["due_24h"], metrics["overdue"]) == (3, 1, 1)
    assert tid["actioned"] == 2 and tid["met"] == 1 and tid["met_share"] == 0.5
    assert abs(tid["median_hours"] - (10 + 96) / 2) < 0.1

    page = signed_in("auditor").get("/admin")
    assert page.status_code == 200
    assert '<div class="value" id="m-open">3</div>' in page.text
    assert '<div class="value" id="m-due">1</div>' in page.text
    assert '<div class="value" id="m-overdue">1</div>' in page.text
    assert page.text.count('<svg class="chart"') == 3
    assert "50% (1/2)" in page.text and "53.0 h (2)" in page.text


def test_empty_overview(signed_in: Callable[[str], TestClient]) -> None:
    page = signed_in("reviewer").get("/admin")
    assert page.status_code == 200 and "No open notices" in page.text
