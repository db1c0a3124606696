"""Dashboard pages of redress: the appeal queue (earliest due first), the decision page where a
reviewer other than the original decision-maker upholds or overturns with reasons, and the entry of a
DMCA counter-notice (received by e-mail or post) on the notice page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from moderation.admin.notices_pages import _load_or_404, _notice_page
from moderation.admin.pages import CSRF, PageNotFound, Viewer, ViewerDep, actor, render, require_roles
from moderation.dependencies import ID, DBSession
from moderation.exceptions import ModerationError
from moderation.redress.counter_notices import counter_notices
from moderation.redress.errors import AppealNotFound, CounterNoticeIncomplete
from moderation.redress.schemas import CounterNoticeCreate
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


Text = Annotated[str, Form(max_length=6000)]


@router.post("/notices/{notice_id}/counter-notices", dependencies=[CSRF])
def enter_counter_notice(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    signature: Text = "",
    material: Text = "",
    good_faith_statement: Text = "",
    perjury_acknowledged: Annotated[str, Form(max_length=10)] = "",
    jurisdiction_consent: Annotated[str, Form(max_length=10)] = "",
    name: Text = "",
    address: Text = "",
    phone: Text = "",
    email: Text = "",
) -> Response:
    """A counter-notice received by e-mail or post, checked like `POST /v1/notices/{id}/counter-notices`:
    every missing statutory element is named next to its field and nothing is stored."""
    require_roles(viewer, "reviewer", "admin")
    _load_or_404(session, notice_id)
    texts = {
        "signature": signature,
        "material": material,
        "good_faith_statement": good_faith_statement,
        "name": name,
        "address": address,
        "phone": phone,
        "email": email,
    }
    values: dict[str, Any] = {k: v.strip() or None for k, v in texts.items()}
    values["perjury_acknowledged"] = bool(perjury_acknowledged)
    values["jurisdiction_consent"] = bool(jurisdiction_consent)
    missing: list[str] = []
    try:
        body = CounterNoticeCreate.model_validate(values)
        settings = request.app.state.settings
        counter_notices.file(session, notice_id, body, actor=actor(viewer), settings=settings)
    except ValidationError as exc:
        error = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        missing = [str(e["loc"][0]) for e in exc.errors() if e["loc"]]
        return _refill(request, session, viewer, notice_id, values, missing, error, 422)
    except ModerationError as exc:
        session.rollback()
        if isinstance(exc, CounterNoticeIncomplete):
            missing = list((exc.details or {}).get("missing", []))
        message = exc.message + (f": missing {', '.join(missing)}" if missing else "")
        return _refill(request, session, viewer, notice_id, values, missing, message, exc.status)
    return RedirectResponse(f"/admin/notices/{notice_id}#redress", status_code=303)


def _refill(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    notice_id: int,
    values: dict[str, Any],
    missing: list[str],
    error: str,
    status_code: int,
) -> Response:
    return _notice_page(
        request,
        session,
        viewer,
        notice_id,
        error=error,
        status_code=status_code,
        counter_form={"values": values, "missing": missing},
    )
