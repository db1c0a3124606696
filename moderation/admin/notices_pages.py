"""Dashboard pages of the takedown queue: the due-time queue, one notice with its clocks and actions,
and staff entry of a notice received by e-mail or post."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from moderation.admin.pages import CSRF, PageNotFound, Viewer, ViewerDep, actor, render, require_roles
from moderation.config import Settings
from moderation.dependencies import ID, DBSession
from moderation.exceptions import ModerationError, ValidationFailed
from moderation.kit.time import ensure_utc
from moderation.policy.loader import get_policy
from moderation.policy.regimes import RegimeSet, load_regimes
from moderation.redress.counter_notices import REQUIRED as COUNTER_NOTICE_ELEMENTS
from moderation.redress.counter_notices import counter_notices
from moderation.redress.notice_views import notice_redress
from moderation.redress.service import appeals
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from moderation.takedown.states import APPEAL_ONLY, STATES, TransitionName

router = APIRouter(prefix="/admin", include_in_schema=False)

ACTING = ("reviewer", "admin")
# Transitions a dashboard form may ask for; `appeal`, `uphold` and `restore` file or decide the
# notice's appeal (moderation/redress/notice_views.py), and a counter-notice needs its statutory
# elements, so it has no bare form.
FORM_TRANSITIONS = frozenset(TransitionName) - APPEAL_ONLY


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _regimes(settings: Settings) -> RegimeSet:
    return get_policy(settings.policies_dir).part("regimes", load_regimes)


def _pause_reasons(regimes: RegimeSet, notice_regimes: list[dict[str, Any]]) -> list[str]:
    reasons: set[str] = set()
    for entry in notice_regimes:
        if entry["id"] not in regimes:
            continue
        version = regimes.get(entry["id"]).version(entry["version"])
        reasons.update(r for clock in version.clocks if clock.pausable for r in clock.pause_reasons)
    return sorted(reasons)


# --- the queue ---------------------------------------------------------------------------------


@router.get("/notices", response_class=HTMLResponse)
def notices_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    regime: str = "",
    state: str = "",
    assignee: str = "",
    overdue: bool = False,
    cursor: str | None = None,
) -> Response:
    settings = _settings(request)
    filters = {"regime": regime, "state": state, "assignee": assignee, "overdue": overdue}
    error = None
    try:
        page = takedown.queue(
            session,
            regime=regime or None,
            state=state if state in STATES else None,
            assignee=(viewer.username if assignee == "me" else assignee) or None,
            overdue=overdue,
            cursor=cursor or None,
            limit=50,
        )
        items, next_cursor = [i.model_dump() for i in page.items], page.next_cursor
    except ModerationError as exc:
        items, next_cursor, error = [], None, exc.message
    return render(
        request,
        "notices.html",
        viewer,
        items=items,
        next_cursor=next_cursor,
        filters=filters,
        regime_ids=_regimes(settings).ids(),
        states=STATES,
        error=error,
    )


@router.post("/notices/{notice_id}/claim", dependencies=[CSRF])
def claim_notice(session: DBSession, viewer: ViewerDep, notice_id: ID) -> Response:
    require_roles(viewer, *ACTING)
    _load_or_404(session, notice_id)
    takedown.assign(session, notice_id, viewer.username, actor=actor(viewer))
    return RedirectResponse(f"/admin/notices/{notice_id}", status_code=303)


@router.post("/notices/{notice_id}/assign", dependencies=[CSRF])
def assign_notice(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    assignee: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    require_roles(viewer, *ACTING)
    _load_or_404(session, notice_id)
    takedown.assign(session, notice_id, assignee.strip() or None, actor=actor(viewer))
    return RedirectResponse(f"/admin/notices/{notice_id}", status_code=303)


# --- staff entry -------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _statements(text: str) -> dict[str, str]:
    """`field: value` per line (the regime's required statements: signature, good_faith ...)."""
    fields: dict[str, str] = {}
    for line in _lines(text):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"statement line '{line[:60]}' is not `field: value`")
        fields[key.strip()] = value.strip()
    return fields


@router.get("/notices/new", response_class=HTMLResponse)
def new_notice_page(request: Request, viewer: ViewerDep) -> Response:
    require_roles(viewer, *ACTING)
    return _new_notice_form(request, viewer, {})


def _new_notice_form(
    request: Request, viewer: Viewer, values: dict[str, Any], error: str | None = None, status_code: int = 200
) -> Response:
    regimes = _regimes(_settings(request))
    return render(
        request,
        "notice_new.html",
        viewer,
        status_code=status_code,
        regimes=[{"id": r.id, "title": r.title} for r in regimes],
        values=values,
        error=error,
    )


@router.post("/notices/new", dependencies=[CSRF])
async def create_notice(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    channel: Annotated[str, Form(max_length=10)] = "email",
    received_at: Annotated[str, Form(max_length=40)] = "",
    reporter_name: Annotated[str, Form(max_length=500)] = "",
    reporter_email: Annotated[str, Form(max_length=320)] = "",
    content_ids: Annotated[str, Form(max_length=100_000)] = "",
    urls: Annotated[str, Form(max_length=200_000)] = "",
    statements: Annotated[str, Form(max_length=50_000)] = "",
    client_reference: Annotated[str, Form(max_length=200)] = "",
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    require_roles(viewer, *ACTING)
    form = await request.form()
    regimes = [str(v) for v in form.getlist("regimes")]
    values = {
        "regimes": regimes,
        "channel": channel,
        "received_at": received_at,
        "reporter_name": reporter_name,
        "reporter_email": reporter_email,
        "content_ids": content_ids,
        "urls": urls,
        "statements": statements,
        "client_reference": client_reference,
    }
    settings = _settings(request)
    try:
        received = ensure_utc(datetime.fromisoformat(received_at)) if received_at else None
        data = (
            await image.read(settings.max_image_bytes + 1) if image is not None and image.filename else None
        )
        body = NoticeCreate.model_validate(
            {
                "regimes": regimes,
                "channel": channel,
                "client_reference": client_reference.strip() or None,
                "received_at": received,
                "reporter": {"name": reporter_name or None, "email": reporter_email or None},
                "content": {
                    "content_ids": _lines(content_ids),
                    "urls": _lines(urls),
                    "image_base64": base64.b64encode(data).decode() if data else None,
                },
                "fields": _statements(statements),
            }
        )
        notice, _ = takedown.submit(session, body, actor=actor(viewer), settings=settings)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _new_notice_form(request, viewer, values, f"The notice is not valid: {problems}", 422)
    except ValueError as exc:
        return _new_notice_form(request, viewer, values, str(exc), 422)
    except ModerationError as exc:
        session.rollback()
        return _new_notice_form(request, viewer, values, exc.message, exc.status)
    return RedirectResponse(f"/admin/notices/{notice.id}", status_code=303)


# --- one notice --------------------------------------------------------------------------------


def _load_or_404(session: DBSession, notice_id: ID) -> None:
    try:
        takedown.get(session, notice_id)
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc


def _notice_page(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    notice_id: ID,
    *,
    error: str | None = None,
    status_code: int = 200,
    counter_form: dict[str, Any] | None = None,
) -> Response:
    """The notice page; `counter_form` re-fills the counter-notice form with what was typed and the
    elements still missing."""
    settings = _settings(request)
    try:
        notice = takedown.detail(session, notice_id, settings).model_dump()
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    counter_notice_open = notice["state"] == "actioned" and "counter_notice" in takedown.appeal_routes(
        session, notice_id, settings=settings
    )
    return render(
        request,
        "notice.html",
        viewer,
        status_code=status_code,
        notice=notice,
        pause_reasons=_pause_reasons(_regimes(settings), notice["regimes"]),
        appeals=appeals.of_notice(session, notice_id),
        counter_notices=counter_notices.of_notice(session, notice_id),
        counter_notice_open=counter_notice_open,
        counter_form=counter_form or {"values": {}, "missing": []},
        counter_elements=COUNTER_NOTICE_ELEMENTS,
        error=error,
    )


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(request: Request, session: DBSession, viewer: ViewerDep, notice_id: ID) -> Response:
    return _notice_page(request, session, viewer, notice_id)


def _act(
    request: Request, session: DBSession, viewer: Viewer, notice_id: ID, change: Callable[[], Any]
) -> Response:
    """Apply one change through the takedown service; a refusal re-renders the page with the reason."""
    require_roles(viewer, *ACTING)
    _load_or_404(session, notice_id)
    try:
        change()
    except ModerationError as exc:
        session.rollback()
        return _notice_page(request, session, viewer, notice_id, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/admin/notices/{notice_id}", status_code=303)


@router.post("/notices/{notice_id}/transition", dependencies=[CSRF])
def notice_transition(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    name: Annotated[str, Form(max_length=30)],
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    settings = _settings(request)
    who = actor(viewer)

    def change() -> None:
        if name == TransitionName.APPEAL:
            notice_redress.appeal(session, notice_id, statement=reason, actor=who, settings=settings)
        elif name == TransitionName.UPHOLD:
            notice_redress.uphold(session, notice_id, reason=reason, actor=who, settings=settings)
        elif name == TransitionName.RESTORE:
            notice_redress.restore(session, notice_id, reason=reason, actor=who, settings=settings)
        elif name in FORM_TRANSITIONS:
            takedown.transition(session, notice_id, name, actor=who, reason=reason or None, settings=settings)
        else:
            raise ValidationFailed(f"unknown action '{name}'", code="unknown_transition")

    return _act(request, session, viewer, notice_id, change)


@router.post("/notices/{notice_id}/pause", dependencies=[CSRF])
def notice_pause(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    reason: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    settings = _settings(request)

    def change() -> None:
        if not note.strip():
            raise ValidationFailed("say why the clock is paused", code="reason_required")
        takedown.pause(
            session, notice_id, reason=reason, note=note.strip(), actor=actor(viewer), settings=settings
        )

    return _act(request, session, viewer, notice_id, change)


@router.post("/notices/{notice_id}/step", dependencies=[CSRF])
def notice_step(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    step: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    settings = _settings(request)
    return _act(
        request,
        session,
        viewer,
        notice_id,
        lambda: takedown.record_step(
            session, notice_id, step, actor=actor(viewer), note=note.strip() or None, settings=settings
        ),
    )


@router.post("/notices/{notice_id}/resume", dependencies=[CSRF])
def notice_resume(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    settings = _settings(request)
    return _act(
        request,
        session,
        viewer,
        notice_id,
        lambda: takedown.resume(
            session, notice_id, actor=actor(viewer), note=note.strip() or None, settings=settings
        ),
    )


@router.post("/notices/{notice_id}/copies/{copy_id}/{decision}", dependencies=[CSRF])
def notice_copy_decision(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    notice_id: ID,
    copy_id: ID,
    decision: Literal["remove", "dismiss"],
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Remove a near-duplicate the copy sweep left in review, or keep it up (a reason is required)."""
    settings = _settings(request)
    who = actor(viewer)

    def change() -> None:
        if decision == "remove":
            takedown.remove_copy(
                session, notice_id, copy_id, actor=who, reason=reason.strip() or None, settings=settings
            )
            return
        if not reason.strip():
            raise ValidationFailed("say why this copy stays up", code="reason_required")
        takedown.dismiss_copy(
            session, notice_id, copy_id, actor=who, reason=reason.strip(), settings=settings
        )

    return _act(request, session, viewer, notice_id, change)
