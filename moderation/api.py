"""Mounts every feature's router and lifecycle hooks on the application."""

from __future__ import annotations

from fastapi import FastAPI

from moderation import health
from moderation.admin import lifecycle as admin_lifecycle
from moderation.audit import endpoints as audit_endpoints
from moderation.banks import endpoints as banks_endpoints
from moderation.checks import endpoints as checks_endpoints
from moderation.checks import lifecycle as checks_lifecycle
from moderation.exchanges import endpoints as exchanges_endpoints
from moderation.matching import endpoints as matching_endpoints
from moderation.matching import lifecycle as matching_lifecycle
from moderation.observability import lifecycle as observability_lifecycle
from moderation.redress import endpoints as redress_endpoints
from moderation.reporting import endpoints as reporting_endpoints
from moderation.reporting import lifecycle as reporting_lifecycle
from moderation.statements import endpoints as statements_endpoints
from moderation.takedown import endpoints as takedown_endpoints
from moderation.worker import lifecycle as worker_lifecycle


def install_features(app: FastAPI) -> None:
    """Routers under /v1, the dashboard under /admin, and each feature's start/stop/readiness hooks."""
    # The hot paths first: routing tries routes in order (about 70 before /v1/match otherwise, ~0.3 ms of
    # CPU per request). Paths do not overlap across routers, so the order changes nothing else.
    app.include_router(matching_endpoints.router, prefix="/v1", tags=["match"])
    app.include_router(checks_endpoints.router, prefix="/v1", tags=["checks"])
    observability_lifecycle.install(app)
    admin_lifecycle.install(app)
    worker_lifecycle.install(app)
    checks_lifecycle.install(app)
    matching_lifecycle.install(app)
    reporting_lifecycle.install(app)
    app.include_router(health.router)
    app.include_router(audit_endpoints.router, prefix="/v1", tags=["audit"])
    app.include_router(banks_endpoints.router, prefix="/v1", tags=["banks"])
    app.include_router(takedown_endpoints.router, prefix="/v1", tags=["takedown"])
    app.include_router(statements_endpoints.router, prefix="/v1", tags=["statements"])
    app.include_router(reporting_endpoints.router, prefix="/v1", tags=["reporting"])
    app.include_router(exchanges_endpoints.router, prefix="/v1", tags=["exchanges"])
    app.include_router(redress_endpoints.router, prefix="/v1", tags=["redress"])
