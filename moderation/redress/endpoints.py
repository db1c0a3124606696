"""HTTP endpoints of redress: appeals (filed by the platform, decided by an admin) and counter-notices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from moderation.auth.service import Principal, Role
from moderation.checks.service import checks
from moderation.dependencies import ID, Admin, Checker, DBSession, require_role
from moderation.kit.time import utc_now
from moderation.redress.counter_notices import REQUIRED, counter_notices
from moderation.redress.errors import (
    AppealNotFound,
    CounterNoticeIntakeRequired,
    CounterNoticeNotFound,
    PlatformKeyRequired,
)
from moderation.redress.notice_views import notice_redress
from moderation.redress.schemas import (
    AppealCreate,
    AppealDecision,
    AppealOut,
    AppealPage,
    CounterNoticeCreate,
    CounterNoticeOut,
    CounterNoticePage,
    CourtAction,
)
from moderation.redress.service import appeals
from moderation.takedown.access import notice_access
from moderation.takedown.schemas import NoticeOut, Reason, RequiredReason
from moderation.takedown.service import takedown

router = APIRouter()

# Who files: the platform (checker keys) for its uploaders; a notice's submitter (an intake key) for
# its reporter. Admin keys pass everywhere.
Filer = Annotated[Principal, Depends(require_role("checker", "intake"))]


def appeal_out(appeal: Any, created: bool | None = None) -> AppealOut:
    return AppealOut.model_validate(
        {
            **{k: getattr(appeal, k) for k in AppealOut.model_fields if k not in ("overdue", "created")},
            "overdue": appeal.state == "open" and appeal.due_at <= utc_now(),
            "created": created,
        }
    )


def counter_notice_out(row: Any, created: bool | None = None) -> CounterNoticeOut:
    return CounterNoticeOut.model_validate(
        {**{k: getattr(row, k) for k in CounterNoticeOut.model_fields if k != "created"}, "created": created}
    )


def _own(principal: Principal, filed_by: str) -> bool:
    return principal.role == Role.ADMIN or principal.actor == filed_by


def _may_file(session: DBSession, body: AppealCreate, principal: Principal) -> None:
    """Key scope of a filing: a check is appealed only by the key that made it, a notice's rejection
    only by the key that submitted the notice (404 with the usual code otherwise, so another key
    learns nothing of either); an uploader's appeal of a removal needs a platform key (403)."""
    if principal.role == Role.ADMIN:
        return
    if body.subject.type == "check":
        checks.get(session, body.subject.id, actor=principal.actor)
    elif body.appellant.role == "reporter":
        notice_access.require_submitter(session, body.subject.id, principal.actor)
    elif principal.role != Role.CHECKER:
        raise PlatformKeyRequired(
            "an uploader's appeal is filed by the platform's key (checker role), not an intake key"
        )


@router.post("/appeals", response_model=AppealOut, status_code=201, summary="File an appeal for a user")
def file_appeal(
    body: AppealCreate, request: Request, response: Response, session: DBSession, principal: Filer
) -> AppealOut:
    """Stored once per `client_reference` (a retry answers 200 with the first appeal). A check is
    appealed by the checker key that made it, a notice's removal by a platform (checker) key, a
    notice's rejection by the intake key that submitted it; another key's check or notice is 404."""
    _may_file(session, body, principal)
    appeal, created = appeals.file(session, body, actor=principal.actor, settings=request.app.state.settings)
    if not created:
        response.status_code = 200
    return appeal_out(appeal, created)


@router.get("/appeals", response_model=AppealPage, summary="The appeal queue, earliest due first")
def appeal_queue(
    session: DBSession,
    _: Admin,
    state: Annotated[str | None, Query(pattern="^(open|upheld|overturned)$")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AppealPage:
    rows, next_cursor = appeals.page(session, state=state, cursor=cursor, limit=limit)
    return AppealPage(items=[appeal_out(a) for a in rows], next_cursor=next_cursor)


@router.get("/appeals/{appeal_id}", response_model=AppealOut, summary="One appeal")
def get_appeal(appeal_id: ID, session: DBSession, principal: Filer) -> AppealOut:
    """A key sees only the appeals it filed (others answer 404)."""
    appeal = appeals.get(session, appeal_id)
    if not _own(principal, appeal.filed_by):
        raise AppealNotFound(f"appeal {appeal_id} does not exist")
    return appeal_out(appeal)


@router.post("/appeals/{appeal_id}/decision", response_model=AppealOut, summary="Uphold or overturn")
def decide_appeal(
    appeal_id: ID, body: AppealDecision, request: Request, session: DBSession, principal: Admin
) -> AppealOut:
    """By someone other than the original decision-maker (403 `same_decision_maker`); once (409
    `appeal_already_decided`; the same reviewer's retry answers 200)."""
    appeal = appeals.decide(
        session,
        appeal_id,
        body.outcome,
        reason=body.reason,
        actor=principal.actor,
        settings=request.app.state.settings,
    )
    return appeal_out(appeal)


@router.post(
    "/notices/{notice_id}/counter-notices",
    response_model=CounterNoticeOut,
    status_code=201,
    summary="File a DMCA counter-notice",
)
def file_counter_notice(
    notice_id: ID,
    body: CounterNoticeCreate,
    request: Request,
    response: Response,
    session: DBSession,
    principal: Checker,
) -> CounterNoticeOut:
    """The uploader's counter-notice, filed by the platform (checker key; an intake key is 403): it
    leads to a restore unless the claimant reports a court action."""
    row, created = counter_notices.file(
        session, notice_id, body, actor=principal.actor, settings=request.app.state.settings
    )
    if not created:
        response.status_code = 200
    return counter_notice_out(row, created)


@router.get("/counter-notices", response_model=CounterNoticePage, summary="Counter-notices, oldest first")
def counter_notice_list(
    session: DBSession,
    _: Admin,
    state: Annotated[str | None, Query(pattern="^(waiting|restored|court_action)$")] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CounterNoticePage:
    rows, next_cursor = counter_notices.page(session, state=state, cursor=cursor, limit=limit)
    return CounterNoticePage(items=[counter_notice_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/counter-notices/{counter_id}", response_model=CounterNoticeOut, summary="One counter-notice")
def get_counter_notice(counter_id: ID, session: DBSession, principal: Filer) -> CounterNoticeOut:
    row = counter_notices.get(session, counter_id)
    if not _own(principal, row.filed_by):
        raise CounterNoticeNotFound(f"counter-notice {counter_id} does not exist")
    return counter_notice_out(row)


@router.post(
    "/counter-notices/{counter_id}/court-action",
    response_model=CounterNoticeOut,
    summary="Record the claimant's court action (no restore)",
)
def record_court_action(
    counter_id: ID, body: CourtAction, request: Request, session: DBSession, principal: Admin
) -> CounterNoticeOut:
    row = counter_notices.court_action(
        session, counter_id, note=body.note, actor=principal.actor, settings=request.app.state.settings
    )
    return counter_notice_out(row)


# --- the notice routes, as views of the records above ---------------------------------------------
def _notice_out(request: Request, session: DBSession, notice_id: int) -> NoticeOut:
    return takedown.detail(session, notice_id, request.app.state.settings)


@router.post(
    "/notices/{notice_id}/appeal",
    response_model=NoticeOut,
    summary="File the uploader's appeal against the removal (a view of POST /v1/appeals)",
)
def appeal_notice(
    notice_id: ID, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
) -> NoticeOut:
    """Files an appeal record (`notice_action`, the reason as the statement); while one is open a
    retry answers the same notice."""
    notice_redress.appeal(
        session,
        notice_id,
        statement=body.reason if body else None,
        actor=principal.actor,
        settings=request.app.state.settings,
    )
    return _notice_out(request, session, notice_id)


@router.post(
    "/notices/{notice_id}/counter-notice",
    response_model=NoticeOut,
    status_code=410,
    summary="Gone: a counter-notice needs its statutory elements (POST /v1/notices/{id}/counter-notices)",
)
def counter_notice_moved(notice_id: ID, principal: Admin) -> NoticeOut:
    """Always 410 `counter_notice_intake_required`: this route's body cannot carry the elements of
    17 U.S.C. 512(g)(3), and a second intake would be a second mechanism."""
    raise CounterNoticeIntakeRequired(
        "file the counter-notice with its statutory elements at "
        f"POST /v1/notices/{notice_id}/counter-notices",
        details={"endpoint": f"/v1/notices/{notice_id}/counter-notices", "required": sorted(REQUIRED)},
    )


@router.post(
    "/notices/{notice_id}/uphold",
    response_model=NoticeOut,
    summary="Uphold the removal: decides the notice's open appeal (or records a court action)",
)
def uphold_notice(
    notice_id: ID, body: RequiredReason, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    """The open appeal is upheld under the appeal rules (403 `same_decision_maker` for who removed
    it); a counter-noticed notice's waiting counter-notice gets the claimant's court action."""
    notice_redress.uphold(
        session, notice_id, reason=body.reason, actor=principal.actor, settings=request.app.state.settings
    )
    return _notice_out(request, session, notice_id)


@router.post(
    "/notices/{notice_id}/restore",
    response_model=NoticeOut,
    summary="Restore: overturns the notice's open appeal (or restores after a counter-notice)",
)
def restore_notice(
    notice_id: ID, body: RequiredReason, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    """The open appeal is overturned end to end (403 `same_decision_maker` for who removed it); a
    counter-noticed notice is restored once its window has opened (409 `restore_window_not_open`)."""
    notice_redress.restore(
        session, notice_id, reason=body.reason, actor=principal.actor, settings=request.app.state.settings
    )
    return _notice_out(request, session, notice_id)
