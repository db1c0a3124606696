"""Dashboard pages under /admin: sign-in, overview, audit log, users and API keys (shared helpers too).

Server-rendered (Jinja2, autoescaped), no build step and no assets from the internet. Every form
carries a CSRF token; every action goes through a service, which audits it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from moderation.admin.security import COOKIE_NAME, CSRF_FIELD, SessionCodec, login_csrf_token
from moderation.audit.service import audit
from moderation.auth.service import api_keys, users
from moderation.auth.sign_in import sign_in
from moderation.checks.review import review_queue
from moderation.config import Settings
from moderation.dependencies import DBSession, ReadSession
from moderation.exceptions import ModerationError
from moderation.kit.paging import Page
from moderation.kit.time import ensure_utc, utc_now
from moderation.takedown.service import takedown

TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)


def _as_utc_text(value: datetime | str | None) -> str:
    """A timestamp as people read it: minutes, UTC, no microseconds (ISO text or datetime)."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return ensure_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES.env.filters["utc"] = _as_utc_text
LOGIN_NONCE_COOKIE = "moderation_login_nonce"

router = APIRouter(prefix="/admin", include_in_schema=False)


class LoginRequired(Exception):
    """No valid session: the handler redirects to the sign-in page."""


class PageForbidden(Exception):
    """Signed in, but the role does not admit this page or action."""


class CSRFRejected(Exception):
    """A form arrived without the session's CSRF token."""


class PageNotFound(Exception):
    """The page's subject (a notice, a check, a bank) does not exist."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as pages see it."""

    id: int
    username: str
    role: str
    csrf_token: str

    @property
    def can_act(self) -> bool:
        return self.role in {"reviewer", "admin"}

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _codec(request: Request) -> SessionCodec:
    settings = _settings(request)
    return SessionCodec(settings.secret_key, settings.session_max_age_seconds)


def current_viewer(request: Request, session: ReadSession) -> Viewer:
    codec = _codec(request)
    data = codec.read(request.cookies.get(COOKIE_NAME))
    if data is None:
        raise LoginRequired
    user = users.get(session, data.user_id)
    if user is None or user.disabled_at is not None or user.session_epoch != data.epoch:
        raise LoginRequired
    return Viewer(id=user.id, username=user.username, role=user.role, csrf_token=codec.csrf_token(data))


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def require_roles(viewer: Viewer, *roles: str) -> None:
    if viewer.role not in roles:
        raise PageForbidden


async def check_csrf(request: Request) -> None:
    """Every state-changing form must echo the session's CSRF token."""
    form = await request.form()
    data = _codec(request).read(request.cookies.get(COOKIE_NAME))
    token = form.get(CSRF_FIELD)
    if data is None or not isinstance(token, str) or not _codec(request).csrf_ok(data, token):
        raise CSRFRejected


CSRF = Depends(check_csrf)


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> Response:
    context.update(viewer=viewer, csrf_field=CSRF_FIELD, now=utc_now())
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def actor(viewer: Viewer) -> str:
    return f"user:{viewer.username}"


# --- sign-in -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        None,
        login_token=login_csrf_token(_settings(request).secret_key, nonce),
    )
    response.set_cookie(
        LOGIN_NONCE_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=_settings(request).cookie_secure,
        max_age=3600,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """No request transaction here: `sign_in` keeps the password hash out of every write transaction."""
    settings = _settings(request)
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if not nonce or not secrets.compare_digest(login_csrf_token(settings.secret_key, nonce), csrf_token):
        raise CSRFRejected
    address = request.client.host if request.client else "unknown"
    try:
        request.app.state.sign_in_throttle.admit(address, username)
        user = sign_in(request.app.state.engine, username=username, password=password, settings=settings)
    except ModerationError as exc:
        return render(
            request,
            "login.html",
            None,
            status_code=exc.status,
            error=exc.message,
            login_token=login_csrf_token(settings.secret_key, nonce),
        )
    token, _ = _codec(request).issue(user.id, user.session_epoch)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        max_age=settings.session_max_age_seconds,
        path="/admin",
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE)
    return response


@router.post("/logout", dependencies=[CSRF])
def logout(session: DBSession, viewer: ViewerDep) -> Response:
    user = users.get(session, viewer.id)
    if user is not None:
        users.sign_out(session, user)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/admin")
    return response


# --- audit log ---------------------------------------------------------------------------------


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: ReadSession,
    viewer: ViewerDep,
    actor_filter: Annotated[str | None, Query(alias="actor", max_length=200)] = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    filters: dict[str, Any] = {
        "actor": actor_filter or None,
        "action": action or None,
        "subject_type": subject_type or None,
        "subject_id": subject_id or None,
        "since": _parse_time(since),
        "until": _parse_time(until),
    }
    error, status_code = None, 200
    try:
        page = audit.events(session, cursor=cursor or None, limit=50, **filters)
    except ModerationError as exc:
        page, error, status_code = Page([], None), exc.message, exc.status
    last_check = audit.page(session, action="audit.verify", limit=1)
    return render(
        request,
        "audit.html",
        viewer,
        status_code=status_code,
        error=error,
        events=page.items,
        filters={
            "actor": actor_filter or "",
            "action": action or "",
            "subject_type": subject_type or "",
            "subject_id": subject_id or "",
            "since": since or "",
            "until": until or "",
        },
        next_cursor=page.next_cursor,
        last_check=last_check[0] if last_check else None,
    )


@router.post("/audit/verify", dependencies=[CSRF])
def audit_verify(request: Request, read: ReadSession, session: DBSession, viewer: ViewerDep) -> Response:
    # One walk per VERIFY_INTERVAL_SECONDS per process: a looping client cannot keep the CPU busy; the
    # page shows the last result either way. The walk reads outside the write transaction.
    if not request.app.state.audit_verify_window.hit("dashboard"):
        return RedirectResponse("/admin/audit", status_code=303)
    result = audit.verify(read)
    audit.record(
        session,
        actor=actor(viewer),
        action="audit.verify",
        subject_type="audit_log",
        subject_id="chain",
        details={
            "ok": result.ok,
            "events": result.events,
            "first_broken_id": result.first_broken_id,
            "reason": result.reason,
        },
    )
    return RedirectResponse("/admin/audit", status_code=303)


# --- users and API keys ------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: DBSession, viewer: ViewerDep) -> Response:
    require_roles(viewer, "admin")
    return _users_page(request, session, viewer)


def _users_page(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    *,
    status_code: int = 200,
    new_key: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    """The users and API keys page; a refused change shows its error, a new key is shown once."""
    extra = {"error": error} if error is not None else {}
    return render(
        request,
        "users.html",
        viewer,
        status_code=status_code,
        users=users.list(session),
        keys=api_keys.list(session),
        new_key=new_key,
        **extra,
    )


@router.post("/users", dependencies=[CSRF])
def create_user(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    username: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    require_roles(viewer, "admin")
    try:
        users.create(session, username=username, role=role, password=password, actor=actor(viewer))
    except ModerationError as exc:
        session.rollback()
        return _users_page(request, session, viewer, status_code=exc.status, error=exc.message)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/disable", dependencies=[CSRF])
def disable_user(session: DBSession, viewer: ViewerDep, username: str) -> Response:
    require_roles(viewer, "admin")
    users.set_disabled(session, username=username, disabled=True, actor=actor(viewer))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/apikeys", dependencies=[CSRF])
def create_api_key(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    require_roles(viewer, "admin")
    try:
        _, plain = api_keys.create(session, name=name, role=role, actor=actor(viewer))
    except ModerationError as exc:
        session.rollback()
        return _users_page(request, session, viewer, status_code=exc.status, error=exc.message)
    # The key is shown once, on this response only; it is not in any URL or log.
    return _users_page(request, session, viewer, new_key={"name": name, "key": plain})


@router.post("/apikeys/{name}/revoke", dependencies=[CSRF])
def revoke_api_key(session: DBSession, viewer: ViewerDep, name: str) -> Response:
    require_roles(viewer, "admin")
    api_keys.revoke(session, name=name, actor=actor(viewer))
    return RedirectResponse("/admin/users", status_code=303)


# --- overview ----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: ReadSession, viewer: ViewerDep) -> Response:
    if viewer.role == "reporter":
        return RedirectResponse("/admin/reporting", status_code=303)  # their one part of the dashboard
    last_check = audit.page(session, action="audit.verify", limit=1)
    pending = review_queue.list(session, state="pending", limit=101)
    return render(
        request,
        "overview.html",
        viewer,
        last_check=last_check[0] if last_check else None,
        recent=audit.page(session, limit=10),
        metrics=takedown.overview(session, days=30),
        pending_reviews=len(pending),
    )
