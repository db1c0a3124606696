"""HTTP endpoints of the takedown queue: intake, queue, detail, assignment and state changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from moderation.dependencies import Admin, DBSession, Intake
from moderation.takedown.schemas import (
    Assign,
    NoticeCreate,
    NoticeOut,
    PauseRequest,
    QueuePage,
    Reason,
    RequiredReason,
    SupplyInfo,
)
from moderation.takedown.service import takedown

router = APIRouter()


def _detail(request: Request, session: DBSession, notice_id: int) -> dict[str, Any]:
    return takedown.detail(session, notice_id, request.app.state.settings)


@router.post("/notices", response_model=NoticeOut, status_code=201, summary="Submit a takedown notice")
def submit_notice(
    body: NoticeCreate, request: Request, response: Response, session: DBSession, principal: Intake
) -> dict[str, Any]:
    """Stored exactly once per `client_reference`: a resubmission answers 200 with the first notice."""
    notice, created = takedown.submit(
        session, body, actor=principal.actor, settings=request.app.state.settings
    )
    if not created:
        response.status_code = 200
    return {**_detail(request, session, notice.id), "created": created}


@router.get("/notices", response_model=QueuePage, summary="The due-time queue")
def notice_queue(
    session: DBSession,
    _: Admin,
    regime: str | None = None,
    state: str | None = None,
    assignee: str | None = None,
    overdue: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page = takedown.queue(
        session, regime=regime, state=state, assignee=assignee, overdue=overdue, cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/notices/{notice_id}", response_model=NoticeOut, summary="One notice with everything about it")
def get_notice(notice_id: int, request: Request, session: DBSession, _: Admin) -> dict[str, Any]:
    return _detail(request, session, notice_id)


@router.post("/notices/{notice_id}/assign", response_model=NoticeOut)
def assign_notice(
    notice_id: int, body: Assign, request: Request, session: DBSession, principal: Admin
) -> dict[str, Any]:
    takedown.assign(session, notice_id, body.assignee, actor=principal.actor)
    return _detail(request, session, notice_id)


@router.post("/notices/{notice_id}/info", response_model=NoticeOut, summary="Supply missing fields")
def supply_info(
    notice_id: int, body: SupplyInfo, request: Request, session: DBSession, principal: Intake
) -> dict[str, Any]:
    takedown.supply_info(
        session,
        notice_id,
        fields=body.fields,
        statements=body.statements,
        actor=principal.actor,
        reason=body.reason,
        settings=request.app.state.settings,
    )
    return _detail(request, session, notice_id)


@router.post("/notices/{notice_id}/action", response_model=NoticeOut, summary="Remove the content")
def action_notice(
    notice_id: int, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
) -> dict[str, Any]:
    takedown.action(
        session,
        notice_id,
        actor=principal.actor,
        reason=body.reason if body else None,
        settings=request.app.state.settings,
    )
    return _detail(request, session, notice_id)


def _transition_route(name: str, path: str, *, reason_required: bool) -> None:
    if reason_required:

        def handler(
            notice_id: int, body: RequiredReason, request: Request, session: DBSession, principal: Admin
        ) -> dict[str, Any]:
            takedown.transition(
                session,
                notice_id,
                name,
                actor=principal.actor,
                reason=body.reason,
                settings=request.app.state.settings,
            )
            return _detail(request, session, notice_id)

    else:

        def handler(  # type: ignore[misc]
            notice_id: int, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
        ) -> dict[str, Any]:
            takedown.transition(
                session,
                notice_id,
                name,
                actor=principal.actor,
                reason=body.reason if body else None,
                settings=request.app.state.settings,
            )
            return _detail(request, session, notice_id)

    handler.__name__ = f"{name}_notice"
    router.add_api_route(
        f"/notices/{{notice_id}}/{path}",
        handler,
        methods=["POST"],
        response_model=NoticeOut,
        summary=f"{name.replace('_', ' ').capitalize()} the notice",
    )


for _name, _path, _required in (
    ("validate", "validate", False),
    ("request_info", "request-info", False),
    ("reject", "reject", True),
    ("appeal", "appeal", False),
    ("counter_notice", "counter-notice", False),
    ("uphold", "uphold", True),
    ("restore", "restore", True),
    ("close", "close", False),
):
    _transition_route(_name, _path, reason_required=_required)


@router.post("/notices/{notice_id}/pause", response_model=NoticeOut, summary="Pause pausable clocks")
def pause_notice(
    notice_id: int, body: PauseRequest, request: Request, session: DBSession, principal: Admin
) -> dict[str, Any]:
    takedown.pause(
        session,
        notice_id,
        reason=body.reason,
        note=body.note,
        actor=principal.actor,
        settings=request.app.state.settings,
    )
    return _detail(request, session, notice_id)


@router.post("/notices/{notice_id}/resume", response_model=NoticeOut, summary="Resume paused clocks")
def resume_notice(
    notice_id: int, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
) -> dict[str, Any]:
    takedown.resume(
        session,
        notice_id,
        actor=principal.actor,
        note=body.reason if body else None,
        settings=request.app.state.settings,
    )
    return _detail(request, session, notice_id)
