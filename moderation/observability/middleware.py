"""ASGI middleware: a request id per request (the client's `X-Request-ID` or a new one), one access
log line and the HTTP metrics. The id is bound for everything the request runs, returned in the
response's `X-Request-ID`, and stored with the audit events and outbox rows the request writes."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.kit.request_context import accepted_request_id, bound_request_id
from moderation.observability import metrics

log = logging.getLogger("moderation.http")

HEADER = b"x-request-id"
# Probes and scrapes arrive every few seconds from every load balancer and Prometheus: DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((v for k, v in scope.get("headers", ()) if k == HEADER), None)
        request_id = accepted_request_id(offered.decode("latin-1") if offered is not None else None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bound_request_id(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = _route(scope)
                metrics.observe_request(method=scope["method"], route=route, status=status, seconds=seconds)
                log.log(
                    logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                    "%s %s %s",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 2),
                        }
                    },
                )


def _route(scope: Scope) -> str:
    """The matched route as a template (`/v1/notices/{notice_id}`), never the raw path or query
    string: bounded label values, and no ids or search terms in the logs. Each path segment that
    carries a path parameter is put back as `{name}`; an unmatched path is `unmatched`."""
    if scope.get("route") is None:
        return "unmatched"
    params = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{params[s]}}}" if s in params else s for s in segments)
