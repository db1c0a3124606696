"""The FastAPI application factory: settings, database, policy, error handling, routers, lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from moderation.api import install_features
from moderation.config import Settings, get_settings
from moderation.db import make_engine
from moderation.exceptions import ModerationError
from moderation.guard import RequestGuard, reject_unstorable_json
from moderation.kit.migrations import prepare_database
from moderation.kit.time import set_clock
from moderation.observability.logs import configure_logging
from moderation.policy import load_policy

log = logging.getLogger("moderation")

Readiness = Callable[[], dict[str, Any]]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(status_code=status, content=body)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModerationError)
    async def _moderation_error(_: Request, exc: ModerationError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": err.get("type"),
            }
            for err in exc.errors()
        ]
        return _error(422, "validation_error", "the request is not valid", {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _error(exc.status_code, code, message)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # SQLSTATE class 22 ("data exception"): a NUL byte, a string longer than its column, a number
        # out of range. The value came from the request; the transaction has been rolled back.
        log.info("refused a value the database cannot store: %s", exc.orig)
        return _error(422, "invalid_value", "a value cannot be stored (NUL byte, too long, or out of range)")

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # An integer past what the driver can bind (SQLite: 64-bit); PostgreSQL's own is a DataError.
        return _error(422, "invalid_value", "a number is out of range")

    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return _error(422, "invalid_text", "the text is not valid Unicode (a lone surrogate)")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error; the incident was logged")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Start-up validates the policy and checks (or migrates) the schema."""
    settings = settings or get_settings()
    if settings.fake_now is not None:
        set_clock(settings.fake_now)
    policy = load_policy(settings.policies_dir, settings.policy_profile)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare_database(settings)
        for start in app.state.on_start:
            await start(app)
        try:
            yield
        finally:
            for stop in reversed(app.state.on_stop):
                await stop(app)
            app.state.engine.dispose()
            app.state.read_engine.dispose()

    app = FastAPI(
        title="moderation",
        version="0.1.0",
        description=(
            "Pre-publish checks, hash banks, statutory takedown queue and a tamper-evident audit log."
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unstorable_json)],
        # No Swagger UI or ReDoc: they load their assets from a CDN. The schema is behind a setting.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_schema_served else None,
    )
    app.state.settings = settings
    app.state.policy = policy
    app.state.engine = make_engine(settings.resolved_database_url)
    # Readers that must not take SQLite's write lock (API key lookups); the same engine elsewhere.
    app.state.read_engine = (
        make_engine(settings.resolved_database_url, sqlite_immediate=False)
        if settings.is_sqlite
        else app.state.engine
    )
    app.state.readiness = {}
    app.state.on_start = []
    app.state.on_stop = []
    install_error_handlers(app)

    install_features(app)
    app.add_middleware(RequestGuard, settings=settings, read_engine=app.state.read_engine)
    return app


def create_served_app() -> FastAPI:
    """The factory `moderation serve` gives uvicorn: logging as configured, then the app (each
    uvicorn worker process calls it, so each logs the same way)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
