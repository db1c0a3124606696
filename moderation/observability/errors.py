"""Errors of the `observability` feature."""

from __future__ import annotations

from moderation.exceptions import ModerationError


class MetricsTokenInvalid(ModerationError):
    code = "invalid_metrics_token"
    status = 401


class MetricsDisabled(ModerationError):
    code = "metrics_disabled"
    status = 404
