"""The request guard: no body is read before authentication, every route class has a body limit,
and every response carries the anti-framing headers (issue 11, findings 2 and 9)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from moderation.app import create_app
from moderation.config import Settings
from moderation.guard import LOGIN_BODY_BYTES, BodyLimits

CHUNK = 64 * 1024


@dataclass
class Exchange:
    """One request driven through the ASGI app chunk by chunk, as a server would."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def drive(
    app: FastAPI, path: str, *, chunks: int, headers: dict[str, str] | None = None, method: str = "POST"
) -> Exchange:
    """POST `chunks` chunks of 64 KiB without a Content-Length and count how many the app pulled."""
    exchange = Exchange()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("203.0.113.7", 5000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        if exchange.chunks_read >= chunks:
            return {"type": "http.disconnect"}
        exchange.chunks_read += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": exchange.chunks_read < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            exchange.body += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return exchange


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.mark.parametrize("path", ["/v1/match", "/v1/notices", "/v1/check", "/v1/banks/b/import"])
def test_anonymous_body_is_refused_before_it_is_read(app: FastAPI, path: str) -> None:
    exchange = drive(app, path, chunks=3200, headers={"content-type": "application/json"})  # 200 MB offered
    assert exchange.status == 401 and exchange.json()["code"] == "unauthenticated"
    assert exchange.chunks_read == 0


def test_unknown_key_is_refused_before_the_body_is_read(app: FastAPI) -> None:
    exchange = drive(app, "/v1/match", chunks=3200, headers={"authorization": "Bearer mod_nope_nope"})
    assert exchange.status == 401 and exchange.json()["code"] == "invalid_api_key"
    assert exchange.chunks_read == 0


@pytest.mark.parametrize("path", ["/admin/notices/new", "/admin/banks/b/import", "/admin/login"])
def test_dashboard_forms_without_a_session_are_refused_before_the_body(app: FastAPI, path: str) -> None:
    exchange = drive(app, path, chunks=8000, headers={"content-type": "multipart/form-data; boundary=x"})
    assert exchange.status == 303 and exchange.headers["location"] == "/admin/login"
    assert exchange.chunks_read == 0


def test_a_streamed_body_stops_being_read_at_the_route_limit(
    app: FastAPI, settings: Settings, make_key: Callable[..., str]
) -> None:
    headers = {"authorization": f"Bearer {make_key('checker')}", "content-type": "application/json"}
    limit = BodyLimits.from_settings(settings).plain
    exchange = drive(app, "/v1/match", chunks=3200, headers=headers)
    assert exchange.status == 413 and exchange.json()["code"] == "request_too_large"
    assert exchange.chunks_read == limit // CHUNK + 1


def test_sign_in_body_limit_is_small(app_client: TestClient) -> None:
    app_client.get("/admin/login")  # the nonce cookie
    response = app_client.post(
        "/admin/login", data={"username": "a", "password": "p" * LOGIN_BODY_BYTES, "csrf_token": "x"}
    )
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_declared_length_over_the_limit_is_413_without_reading(
    app: FastAPI, make_key: Callable[..., str], settings: Settings
) -> None:
    headers = {
        "authorization": f"Bearer {make_key('admin')}",
        "content-length": str(settings.max_import_bytes + 1),
    }
    exchange = drive(app, "/v1/banks/b/import", chunks=10, headers=headers)
    assert exchange.status == 413 and exchange.json()["code"] == "request_too_large"
    assert exchange.chunks_read == 0


def test_route_classes_have_their_own_limits(settings: Settings) -> None:
    limits = BodyLimits.from_settings(settings)
    assert limits.for_path("/admin/login") == LOGIN_BODY_BYTES
    assert limits.for_path("/v1/banks/x/import") == settings.max_import_bytes
    assert limits.for_path("/v1/check/batch") > limits.for_path("/v1/check") > limits.for_path("/v1/match")
    assert limits.for_path("/admin/notices/new") == limits.for_path("/v1/notices")
    assert limits.for_path("/v1/notices/1/info") == settings.max_body_bytes


def test_dashboard_cannot_be_framed(app_client: TestClient) -> None:
    response = app_client.get("/admin/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    api = app_client.get("/healthz")
    assert api.headers["x-frame-options"] == "DENY"


def test_sign_in_page_renders_no_text_from_the_query_string(app_client: TestClient) -> None:
    response = app_client.get("/admin/login", params={"error": "Your account is compromised, call 555-0100"})
    assert response.status_code == 200
    assert "555-0100" not in response.text


def test_api_schema_is_off_in_production_and_no_cdn_pages(settings: Settings) -> None:
    production = settings.model_copy(
        update={"env": "production", "secret_key": "s" * 32, "action_webhook_secret": "w" * 32}
    )
    served = TestClient(create_app(settings))
    assert served.get("/openapi.json").status_code == 200
    assert served.get("/docs").status_code == 404 and served.get("/redoc").status_code == 404
    assert TestClient(create_app(production)).get("/openapi.json").status_code == 404
    forced = production.model_copy(update={"api_schema_enabled": True})
    assert TestClient(create_app(forced)).get("/openapi.json").status_code == 200
