"""Mounts the dashboard on the application: pages, static files, and its HTML error handling."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from moderation.admin import (
    banks_pages,
    exchanges_pages,
    notices_pages,
    redress_pages,
    reporting_pages,
    review_pages,
    statements_pages,
)
from moderation.admin.pages import CSRFRejected, LoginRequired, PageForbidden, PageNotFound, render, router
from moderation.auth.throttle import SignInThrottle, SlidingWindow

# The dashboard's "verify the audit log" runs at most once per this many seconds in a process.
VERIFY_INTERVAL_SECONDS = 10.0


def install(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.sign_in_throttle = SignInThrottle(
        settings.login_attempts_per_address,
        settings.login_attempts_per_username,
        settings.login_throttle_window_seconds,
    )
    app.state.audit_verify_window = SlidingWindow(1, VERIFY_INTERVAL_SECONDS)
    app.include_router(router)
    app.include_router(notices_pages.router)
    app.include_router(review_pages.router)
    app.include_router(banks_pages.router)
    app.include_router(exchanges_pages.router)
    app.include_router(statements_pages.router)
    app.include_router(reporting_pages.router)
    app.include_router(redress_pages.router)
    app.mount(
        "/admin/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="admin-static"
    )

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse("/admin/login", status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, _: PageForbidden) -> Response:
        return render(
            request,
            "error.html",
            None,
            status_code=403,
            title="Not allowed",
            message="Your role does not allow this page or action.",
        )

    @app.exception_handler(CSRFRejected)
    async def _csrf(request: Request, _: CSRFRejected) -> Response:
        return render(
            request,
            "error.html",
            None,
            status_code=403,
            title="Form expired",
            message="This form was not accepted (missing or stale security token). Reload and try again.",
        )

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return render(request, "error.html", None, status_code=404, title="Not found", message=str(exc))
