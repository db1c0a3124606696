"""Dashboard pages of statements of reasons: the transparency report for a period (every figure links
to its records), the submission state, and one statement as the user sees it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from moderation.admin.pages import PageNotFound, ViewerDep, render
from moderation.dependencies import ID, DBSession
from moderation.exceptions import ModerationError
from moderation.kit.time import utc_now
from moderation.policy.loader import get_policy
from moderation.statements.report import transparency_report
from moderation.statements.service import StatementNotFound, statements

router = APIRouter(prefix="/admin", include_in_schema=False)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@router.get("/transparency", response_class=HTMLResponse)
def transparency_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    start: Annotated[str, Query(alias="from", max_length=20)] = "",
    end: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> Response:
    today = utc_now().date()
    first = _day(start) if start else today - timedelta(days=29)
    last = _day(end) if end else today
    error, report = None, None
    if first is None or last is None:
        error = "Dates are written YYYY-MM-DD."
    else:
        try:
            report = transparency_report.build(
                session,
                first,
                last,
                policy_version=get_policy(request.app.state.settings.policies_dir).version,
            )
        except ModerationError as exc:
            error = exc.message
    counts, rejected = statements.submission_overview(session)
    return render(
        request,
        "transparency.html",
        viewer,
        status_code=200 if error is None else 400,
        report=report,
        error=error,
        start=start or (first.isoformat() if first else ""),
        end=end or (last.isoformat() if last else ""),
        counts=counts,
        rejected=rejected,
    )


@router.get("/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(request: Request, session: DBSession, viewer: ViewerDep, statement_id: ID) -> Response:
    try:
        shown = statements.get(session, statement_id)
    except StatementNotFound:
        raise PageNotFound from None
    return render(request, "statement.html", viewer, statement=shown)
