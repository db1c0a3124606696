"""HTTP endpoints of the takedown queue: intake, queue, detail, state changes, copies, evidence."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute

from moderation.auth.service import Principal, Role
from moderation.config import Settings
from moderation.dependencies import ID, Admin, DBSession, Intake
from moderation.hashing.intake import ImageLimits, read_limited
from moderation.takedown.access import notice_access
from moderation.takedown.errors import RequestTooLarge
from moderation.takedown.schemas import (
    Assign,
    NoticeCreate,
    NoticeOut,
    NoticeReceipt,
    PauseRequest,
    QueuePage,
    Reason,
    RequiredReason,
    StepRequest,
    SupplyInfo,
)
from moderation.takedown.service import takedown

# Room for the JSON around an upload: reporter, statements, signature, content ids and URLs.
_BODY_OVERHEAD = 1024 * 1024


def body_limit(settings: Settings) -> int:
    """Largest request body the takedown API reads: a base64 upload of the largest image, plus room."""
    return (settings.max_image_bytes * 4) // 3 + _BODY_OVERHEAD


class LimitedBodyRoute(APIRoute):
    """Refuses an oversized body with 413 `request_too_large` before it is read into memory or parsed
    (by its Content-Length, or while reading a chunked body)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                limit = body_limit(request.app.state.settings)
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise RequestTooLarge(
                        f"the request body is larger than {limit} bytes", details={"limit": limit}
                    )
                if not declared:
                    chunks, size = [], 0
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > limit:
                            raise RequestTooLarge(
                                f"the request body is larger than {limit} bytes", details={"limit": limit}
                            )
                        chunks.append(chunk)
                    # Starlette caches the body here; the handler's parser reads it back from the cache.
                    request._body = b"".join(chunks)
            return await handler(request)

        return limited


router = APIRouter(route_class=LimitedBodyRoute)


def _detail(request: Request, session: DBSession, notice_id: ID) -> NoticeOut:
    return takedown.detail(session, notice_id, request.app.state.settings)


def _reason(body: Reason | None) -> str | None:
    return body.reason if body else None


def _change(
    request: Request,
    session: DBSession,
    notice_id: ID,
    change: Callable[..., object],
    *args: Any,
    **kwargs: Any,
) -> NoticeOut:
    """Apply one takedown service change to the notice with the app's settings; answer its new detail."""
    change(session, notice_id, *args, settings=request.app.state.settings, **kwargs)
    return _detail(request, session, notice_id)


def _for_caller(
    request: Request, session: DBSession, principal: Principal, notice_id: int, created: bool | None = None
) -> NoticeOut | NoticeReceipt:
    """Admins get the case file; an intake key gets the reporter's receipt."""
    if principal.role == Role.ADMIN:
        return _detail(request, session, notice_id).model_copy(update={"created": created})
    return NoticeReceipt.model_validate(
        notice_access.receipt(session, notice_id, settings=request.app.state.settings, created=created)
    )


@router.post(
    "/notices",
    response_model=NoticeOut | NoticeReceipt,
    status_code=201,
    summary="Submit a takedown notice",
)
def submit_notice(
    body: NoticeCreate, request: Request, response: Response, session: DBSession, principal: Intake
) -> NoticeOut | NoticeReceipt:
    """Stored exactly once per `client_reference`: a resubmission by the same key answers 200 with the
    first notice; another key's reference is a 409 `client_reference_taken`. Intake keys get a
    `NoticeReceipt`, admin keys the full notice."""
    notice, created = takedown.submit(
        session, body, actor=principal.actor, settings=request.app.state.settings
    )
    if not created:
        if principal.role != Role.ADMIN:
            notice_access.check_resubmission(notice, principal.actor)
        response.status_code = 200
    return _for_caller(request, session, principal, notice.id, created)


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
) -> QueuePage:
    page = takedown.queue(
        session, regime=regime, state=state, assignee=assignee, overdue=overdue, cursor=cursor, limit=limit
    )
    return QueuePage(items=page.items, next_cursor=page.next_cursor)


@router.get("/notices/{notice_id}", response_model=NoticeOut, summary="One notice with everything about it")
def get_notice(notice_id: ID, request: Request, session: DBSession, _: Admin) -> NoticeOut:
    return _detail(request, session, notice_id)


@router.post("/notices/{notice_id}/assign", response_model=NoticeOut)
def assign_notice(
    notice_id: ID, body: Assign, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    takedown.assign(session, notice_id, body.assignee, actor=principal.actor)
    return _detail(request, session, notice_id)


@router.post(
    "/notices/{notice_id}/info", response_model=NoticeOut | NoticeReceipt, summary="Supply missing fields"
)
def supply_info(
    notice_id: ID, body: SupplyInfo, request: Request, session: DBSession, principal: Intake
) -> NoticeOut | NoticeReceipt:
    """An intake key supplies information only to the notices it submitted (others answer 404)."""
    if principal.role != Role.ADMIN:
        notice_access.require_submitter(session, notice_id, principal.actor)
    takedown.supply_info(
        session,
        notice_id,
        fields=body.fields,
        statements=body.statements,
        actor=principal.actor,
        reason=body.reason,
        settings=request.app.state.settings,
    )
    return _for_caller(request, session, principal, notice_id)


@router.post(
    "/notices/{notice_id}/content/{item_id}/image",
    response_model=NoticeReceipt,
    summary="Attach the image of an item named by content id or URL (stay-down covers edited copies)",
)
def attach_content_image(
    notice_id: ID,
    item_id: ID,
    request: Request,
    session: DBSession,
    principal: Intake,
    file: Annotated[UploadFile, File(description="the image (JPEG, PNG, WebP, GIF); kept encrypted")],
) -> dict[str, Any]:
    """The platform sends the bytes of a reported item (its `content[].id` in the notice) so that the
    stay-down bank holds the image's robust variants, not only its exact hashes."""
    if principal.role != Role.ADMIN:
        notice_access.require_submitter(session, notice_id, principal.actor)
    settings = request.app.state.settings
    data = read_limited(file.file, ImageLimits.from_settings(settings))
    takedown.attach_image(session, notice_id, item_id, data, actor=principal.actor, settings=settings)
    return notice_access.receipt(session, notice_id, settings=request.app.state.settings)


@router.post("/notices/{notice_id}/action", response_model=NoticeOut, summary="Remove the content")
def action_notice(
    notice_id: ID, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
) -> NoticeOut:
    return _change(request, session, notice_id, takedown.action, actor=principal.actor, reason=_reason(body))


def _transition_route(name: str, path: str, *, reason_required: bool) -> None:
    if reason_required:

        def handler(
            notice_id: ID, body: RequiredReason, request: Request, session: DBSession, principal: Admin
        ) -> NoticeOut:
            return _change(
                request,
                session,
                notice_id,
                takedown.transition,
                name,
                actor=principal.actor,
                reason=body.reason,
            )

    else:

        def handler(  # type: ignore[misc]
            notice_id: ID, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
        ) -> NoticeOut:
            return _change(
                request,
                session,
                notice_id,
                takedown.transition,
                name,
                actor=principal.actor,
                reason=_reason(body),
            )

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
    ("close", "close", False),
):
    # `appeal`, `counter-notice`, `uphold` and `restore` are views of the redress records
    # (moderation/redress/endpoints.py).
    _transition_route(_name, _path, reason_required=_required)


@router.post("/notices/{notice_id}/pause", response_model=NoticeOut, summary="Pause pausable clocks")
def pause_notice(
    notice_id: ID, body: PauseRequest, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    return _change(
        request, session, notice_id, takedown.pause, reason=body.reason, note=body.note, actor=principal.actor
    )


@router.post("/notices/{notice_id}/resume", response_model=NoticeOut, summary="Resume paused clocks")
def resume_notice(
    notice_id: ID, request: Request, session: DBSession, principal: Admin, body: Reason | None = None
) -> NoticeOut:
    return _change(request, session, notice_id, takedown.resume, actor=principal.actor, note=_reason(body))


@router.post(
    "/notices/{notice_id}/steps",
    response_model=NoticeOut,
    summary="Record an acknowledgement, a status update or a decision (meets that step's clocks)",
)
def record_step(
    notice_id: ID, body: StepRequest, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    return _change(
        request, session, notice_id, takedown.record_step, body.step, actor=principal.actor, note=body.note
    )


@router.post(
    "/notices/{notice_id}/copies/{copy_id}/remove",
    response_model=NoticeOut,
    summary="Remove a near-duplicate the sweep left in review",
)
def remove_copy(
    notice_id: ID,
    copy_id: ID,
    request: Request,
    session: DBSession,
    principal: Admin,
    body: Reason | None = None,
) -> NoticeOut:
    return _change(
        request,
        session,
        notice_id,
        takedown.remove_copy,
        copy_id,
        actor=principal.actor,
        reason=_reason(body),
    )


@router.post(
    "/notices/{notice_id}/copies/{copy_id}/dismiss",
    response_model=NoticeOut,
    summary="Keep a near-duplicate up (reason required)",
)
def dismiss_copy(
    notice_id: ID, copy_id: ID, body: RequiredReason, request: Request, session: DBSession, principal: Admin
) -> NoticeOut:
    return _change(
        request, session, notice_id, takedown.dismiss_copy, copy_id, actor=principal.actor, reason=body.reason
    )


@router.get(
    "/notices/{notice_id}/evidence/{evidence_id}",
    summary="Decrypted evidence bytes (audited; reason required)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "image/*": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def read_evidence(
    notice_id: ID,
    evidence_id: ID,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="Why the bytes are read.")],
    request: Request,
    session: DBSession,
    principal: Admin,
) -> Response:
    read = takedown.read_evidence(
        session,
        notice_id,
        evidence_id,
        actor=principal.actor,
        reason=reason,
        settings=request.app.state.settings,
    )
    filename = f"notice-{read.notice_id}-evidence-{read.evidence_id}"
    return Response(
        read.data,
        media_type=read.media_type,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Evidence-SHA256": read.sha256 or "",
        },
    )
