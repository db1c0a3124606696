"""Dashboard pages of redress: the appeal queue (earliest due first) and the decision page where a
reviewer other than the original decision-maker upholds or overturns with reasons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moderation.admin.pages import CSRF, PageNotFound, Viewer, ViewerDep, actor, render, require_roles
from moderation.dependencies import ID, DBSession
from moderation.exceptions import ModerationError
from moderation.redress.errors import AppealNotFound
from moderation.redress.service import AGAINST, appeals

router = APIRouter(prefix="/admin", include_in_schema=False)

STATES = ("open", "upheld", "overturned")


@router.get("/appeals", response_class=HTMLResponse)
def appeal_queue_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    state: Annotated[str, Query(max_length=20)] = "open",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    require_roles(viewer, "reviewer", "admin", "auditor")
    view = state if state in STATES else "open"
    error = None
    try:
        items, next_cursor = appeals.page(session, state=view, cursor=cursor, limit=50)
    except ModerationError as exc:
        items, next_cursor, error = [], None, exc.message
    return render(
        request,
        "appeals.html",
        viewer,
        items=items,
        next_cursor=next_cursor,
        state=view,
        states=STATES,
        against=AGAINST,
        error=error,
    )


def _appeal_page(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    appeal_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    require_roles(viewer, "reviewer", "admin", "auditor")
    try:
        appeal = appeals.get(session, appeal_id)
    except AppealNotFound:
        raise PageNotFound from None
    return render(
        request,
        "appeal.html",
        viewer,
        status_code=status_code,
        appeal=appeal,
        against=AGAINST[appeal.kind],
        timeline=appeals.timeline(session, appeal_id),
        own_decision=appeal.original_decider == actor(viewer),
        error=error,
    )


@router.get("/appeals/{appeal_id}", response_class=HTMLResponse)
def appeal_page(request: Request, session: DBSession, viewer: ViewerDep, appeal_id: ID) -> Response:
    return _appeal_page(request, session, viewer, appeal_id)


@router.post("/appeals/{appeal_id}/decision", dependencies=[CSRF])
def decide_appeal(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    appeal_id: ID,
    outcome: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    require_roles(viewer, "reviewer", "admin")
    try:
        if outcome not in ("uphold", "overturn"):
            raise ModerationError("choose uphold or overturn", code="invalid_outcome", status=422)
        appeals.decide(
            session,
            appeal_id,
            outcome,
            reason=reason,
            actor=actor(viewer),
            settings=request.app.state.settings,
        )
    except ModerationError as exc:
        session.rollback()
        return _appeal_page(request, session, viewer, appeal_id, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/admin/appeals/{appeal_id}", status_code=303)
