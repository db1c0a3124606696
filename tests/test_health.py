"""Liveness, readiness and the JSON error envelope."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz_is_live(app_client: TestClient) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_schema_and_policy(app_client: TestClient) -> None:
    response = app_client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["state"] == "ready"
    assert body["checks"]["schema"]["state"] == "ready"
    assert len(body["policy_version"]) == 16


def test_unknown_route_is_json_with_code(app_client: TestClient) -> None:
    response = app_client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_json_with_code(app_client: TestClient) -> None:
    response = app_client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_is_served(app_client: TestClient) -> None:
    assert app_client.get("/openapi.json").status_code == 200
