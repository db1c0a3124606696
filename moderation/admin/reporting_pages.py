"""Dashboard pages of mandatory reporting: report cases and one case with its files, for reporter
users only (every other role, admin included, gets 403). Reads are audited by the service; viewing a
file is a POST (it records that a person viewed it) and answers with the file as a download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moderation.admin.pages import CSRF, PageForbidden, PageNotFound, Viewer, ViewerDep, actor, render
from moderation.auth.service import Principal
from moderation.dependencies import ID, DBSession
from moderation.exceptions import Forbidden, ModerationError, NotFound
from moderation.reporting.service import reporting
from moderation.reporting.views import case_out

router = APIRouter(prefix="/admin", include_in_schema=False)


def _principal(viewer: Viewer) -> Principal:
    if viewer.role != "reporter":
        raise PageForbidden
    return Principal(actor=actor(viewer), role=viewer.role)


@router.get("/reporting", response_class=HTMLResponse)
def cases_page(request: Request, session: DBSession, viewer: ViewerDep) -> Response:
    cases = reporting.list_cases(session, principal=_principal(viewer), state=None, after_id=None, limit=200)
    return render(request, "reporting_cases.html", viewer, cases=cases)


@router.get("/reporting/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, session: DBSession, viewer: ViewerDep, case_id: ID) -> Response:
    principal = _principal(viewer)
    try:
        case = reporting.read_case(session, case_id, principal=principal)
    except NotFound:
        raise PageNotFound from None
    return render(request, "reporting_case.html", viewer, case=case_out(session, case), error=None)


@router.post("/reporting/{case_id}/files/{file_id}/view", dependencies=[CSRF])
def view_file(request: Request, session: DBSession, viewer: ViewerDep, case_id: ID, file_id: ID) -> Response:
    try:
        file, data = reporting.view_file(
            session, case_id, file_id, principal=_principal(viewer), settings=request.app.state.settings
        )
    except NotFound:
        raise PageNotFound from None
    except Forbidden:
        raise PageForbidden from None
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="case{case_id}-file{file.id}"',
        },
    )


@router.post("/reporting/{case_id}/confirm", dependencies=[CSRF])
def confirm(request: Request, session: DBSession, viewer: ViewerDep, case_id: ID) -> Response:
    principal = _principal(viewer)
    try:
        reporting.confirm(session, case_id, principal=principal, settings=request.app.state.settings)
    except NotFound:
        raise PageNotFound from None
    except ModerationError as exc:
        case = reporting.get(session, case_id, principal=principal)
        return render(
            request,
            "reporting_case.html",
            viewer,
            status_code=exc.status,
            case=case_out(session, case),
            error=exc.message,
        )
    return RedirectResponse(f"/admin/reporting/{case_id}", status_code=303)
