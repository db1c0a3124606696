"""HTTP endpoints of redress: appeals (filed by the platform, decided by an admin) and counter-notices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from moderation.auth.service import Principal, Role
from moderation.dependencies import ID, Admin, DBSession, Intake
from moderation.kit.time import utc_now
from moderation.redress.counter_notices import counter_notices
from moderation.redress.errors import AppealNotFound, CounterNoticeNotFound
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

router = APIRouter()


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


@router.post("/appeals", response_model=AppealOut, status_code=201, summary="File an appeal for a user")
def file_appeal(
    body: AppealCreate, request: Request, response: Response, session: DBSession, principal: Intake
) -> AppealOut:
    """Stored once per `client_reference` (a retry answers 200 with the first appeal). A reporter's
    appeal is filed by the key that submitted the notice (another key gets 404 `notice_not_found`)."""
    if body.subject.type == "notice" and body.appellant.role == "reporter" and principal.role != Role.ADMIN:
        notice_access.require_submitter(session, body.subject.id, principal.actor)
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
def get_appeal(appeal_id: ID, session: DBSession, principal: Intake) -> AppealOut:
    """An intake key sees only the appeals it filed (others answer 404)."""
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
    principal: Intake,
) -> CounterNoticeOut:
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
def get_counter_notice(counter_id: ID, session: DBSession, principal: Intake) -> CounterNoticeOut:
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
