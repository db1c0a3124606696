"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can do its job)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation.kit import migrations

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up. Never touches the database."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: database reachable, schema current, and each subsystem's state.
    503 when the database or schema is not usable; an unavailable classifier is reported but does
    not make the service unready, because decisions follow the policy's fallback."""
    engine = request.app.state.engine
    checks: dict[str, Any] = {}
    ready = True
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"state": "ready", "backend": engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = {"state": "unavailable", "reason": type(exc).__name__}
        ready = False
    if ready:
        state = migrations.schema_state(engine)
        checks["schema"] = {"state": "ready" if state == "current" else state}
        if state == "ahead":
            checks["schema"]["reason"] = "migrated by a newer release (rolling upgrade); still serving"
        elif state == "behind":
            checks["schema"] = {"state": "out_of_date", "reason": "run `moderation db upgrade`"}
            ready = False
    for name, probe in request.app.state.readiness.items():
        try:
            checks[name] = probe()
        except Exception as exc:  # noqa: BLE001
            checks[name] = {"state": "error", "reason": str(exc)}
        if checks[name].get("required") and checks[name].get("state") != "ready":
            ready = False
    body = {
        "status": "ready" if ready else "unready",
        "policy_version": request.app.state.policy.version,
        "checks": checks,
    }
    return JSONResponse(status_code=200 if ready else 503, content=body)
