"""Bad input to `POST /v1/notices`: every case answers 4xx with a stable code, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from moderation.config import Settings
from moderation.takedown.endpoints import body_limit
from tests.takedown.conftest import b64, notice_body

Auth = Callable[[str], dict[str, str]]


def _post_raw(
    client: TestClient, auth: Auth, content: bytes | str, content_type: str = "application/json"
) -> httpx.Response:
    headers = {**auth("intake"), "Content-Type": content_type}
    return client.post("/v1/notices", content=content, headers=headers)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"regimes": ["us-take-it-down"]', "application/json"),  # truncated
        ("{'regimes': ['us-take-it-down']}", "application/json"),  # not JSON
        ("", "application/json"),
        ("null", "application/json"),
        ('["us-take-it-down"]', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        ("regimes=us-take-it-down", "application/x-www-form-urlencoded"),
        (json.dumps(notice_body()), "text/plain"),
    ],
)
def test_malformed_bodies_are_422(
    app_client: TestClient, auth: Auth, raw: bytes | str, content_type: str
) -> None:
    response = _post_raw(app_client, auth, raw, content_type)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "overrides",
    [
        {"regimes": "us-take-it-down"},
        {"regimes": [1]},
        {"regimes": ["us-take-it-down"] * 21},
        {"channel": 3},
        {"received_at": "yesterday"},
        {"received_at": 1.5e300},
        {"reporter": "A. Person"},
        {"reporter": {"email": ["a@example.org"]}},
        {"content": {"content_ids": "post-1"}},
        {"content": {"content_ids": [{"id": 1}]}},
        {"content": {"image_base64": 42}},
        {"fields": ["signature"]},
        {"statements": {"us-take-it-down": "yes"}},
        {"child_safety": "maybe"},
        {"client_reference": "x" * 201},
    ],
)
def test_wrong_types_are_422(app_client: TestClient, auth: Auth, overrides: dict[str, object]) -> None:
    response = app_client.post("/v1/notices", json=notice_body(**overrides), headers=auth("intake"))
    assert response.status_code == 422, (overrides, response.text)
    body = response.json()
    assert body["code"] == "validation_error" and body["details"]["errors"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"regimes": ["us-take-it-down", "nowhere-act"]}, 404, "unknown_regime"),
        ({"received_at": "2026-11-23T10:00:00"}, 422, "naive_datetime"),
        ({"received_at": "2026-11-23T10:00:00Z", "served_at": "2026-11-23T11:00:00"}, 422, "naive_datetime"),
        ({"received_at": "2099-01-01T00:00:00Z"}, 422, "invalid_notice"),
        ({"content": {"image_base64": "not base64 at all!"}}, 422, "invalid_notice"),
        ({"content": {"image_base64": "QUJ"}}, 422, "invalid_notice"),  # bad padding
    ],
)
def test_domain_errors_have_stable_codes(
    app_client: TestClient, auth: Auth, overrides: dict[str, object], status: int, code: str
) -> None:
    response = app_client.post("/v1/notices", json=notice_body(**overrides), headers=auth("intake"))
    assert response.status_code == status, (overrides, response.text)
    assert response.json()["code"] == code


def test_base64_that_is_not_an_image_is_kept_as_evidence(app_client: TestClient, auth: Auth) -> None:
    """Nothing a reporter sends is dropped: unreadable bytes are stored (encrypted) with the reason."""
    body = notice_body(content={"image_base64": b64(b"%PDF-1.4 this is a document, not an image")})
    response = app_client.post("/v1/notices", json=body, headers=auth("intake"))
    assert response.status_code == 201, response.text
    notice = app_client.get(f"/v1/notices/{response.json()['id']}", headers=auth("admin")).json()
    assert notice["content"][-1]["note"].startswith("unsupported_format")
    assert notice["evidence"][0]["encrypted_bytes"] is True


def test_json_nested_beyond_the_parsers_depth_is_400(app_client: TestClient, auth: Auth) -> None:
    response = _post_raw(app_client, auth, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def test_oversized_bodies_are_413_before_parsing(
    app_client: TestClient, auth: Auth, settings: Settings
) -> None:
    limit = body_limit(settings)
    big = json.dumps(notice_body(fields={"signature": "x" * (limit + 10)}))
    response = _post_raw(app_client, auth, big)
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"regimes": ["us-take-it-down"], "fields": {"signature": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}}'

    response = app_client.post(
        "/v1/notices", content=chunks(), headers={**auth("intake"), "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_image_over_the_byte_limit_is_413(app_client: TestClient, auth: Auth, settings: Settings) -> None:
    too_big = b64(b"\x89PNG" + b"\0" * settings.max_image_bytes)
    response = app_client.post(
        "/v1/notices", json=notice_body(content={"image_base64": too_big}), headers=auth("intake")
    )
    assert response.status_code == 413 and response.json()["code"] == "image_too_large"


def test_chunked_body_under_the_limit_is_accepted(app_client: TestClient, auth: Auth) -> None:
    raw = json.dumps(notice_body()).encode()
    response = app_client.post(
        "/v1/notices",
        content=iter([raw[:10], raw[10:]]),
        headers={**auth("intake"), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
