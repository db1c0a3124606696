"""`GET /metrics`: Prometheus exposition of every process's metrics plus the database figures."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from moderation.observability import metrics
from moderation.observability.errors import MetricsDisabled, MetricsTokenInvalid

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=True, summary="Prometheus metrics", response_class=Response)
def get_metrics(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Response:
    """Text exposition format. With MODERATION_METRICS_TOKEN set, requires `Authorization: Bearer
    <token>` (401 `invalid_metrics_token`); in production without a token it answers 404
    `metrics_disabled`, so metrics are never public by accident."""
    settings = request.app.state.settings
    token = settings.metrics_token
    if token is None:
        if settings.env == "production":
            raise MetricsDisabled("set MODERATION_METRICS_TOKEN to enable /metrics in production")
    else:
        offered = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise MetricsTokenInvalid("a valid metrics token is required: Authorization: Bearer <token>")
    request.app.state.metrics_sampler.sample()
    body, content_type = metrics.render(request.app.state.metrics_collector)
    return Response(content=body, media_type=content_type)
