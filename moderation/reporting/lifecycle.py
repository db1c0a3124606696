"""Wires mandatory reporting into the app: the check pipeline tells it of bank matches."""

from __future__ import annotations

from fastapi import FastAPI

from moderation.reporting.intake import ReportingIntake


def install(app: FastAPI) -> None:
    """Set the pipeline's match intake (after `checks.lifecycle.install` created the context)."""
    app.state.check_context.match_intake = ReportingIntake(app.state.settings)
