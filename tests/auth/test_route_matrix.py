"""Every /v1 route: 401 without a key, 401 with a revoked key, 403 for each role it does not admit.

A new route must be added to ROUTE_ROLES or this test fails: auth coverage cannot silently lag."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moderation.cli import app as cli
from tests.routes import api_routes

ALL_ROLES = {"checker", "intake", "admin", "reporter"}

# (method, path) -> roles admitted. `admin` is always admitted, except where REPORTER_ONLY says.
ROUTE_ROLES: dict[tuple[str, str], set[str]] = {
    ("GET", "/v1/audit"): {"admin"},
    ("POST", "/v1/check"): {"checker"},
    ("POST", "/v1/check/batch"): {"checker"},
    ("GET", "/v1/check/{check_id}"): {"checker"},
    ("GET", "/v1/review"): {"admin"},
    ("GET", "/v1/review/{item_id}"): {"admin"},
    ("POST", "/v1/review/{item_id}/verdict"): {"admin"},
    # banks and matching
    ("POST", "/v1/match"): {"checker"},
    ("POST", "/v1/banks"): {"admin"},
    ("GET", "/v1/banks"): {"admin"},
    ("GET", "/v1/banks/{name}"): {"admin"},
    ("PATCH", "/v1/banks/{name}"): {"admin"},
    ("POST", "/v1/banks/{name}/entries"): {"admin"},
    ("POST", "/v1/banks/{name}/entries/image"): {"admin"},
    ("POST", "/v1/banks/{name}/entries/video"): {"admin"},
    ("POST", "/v1/banks/{name}/entries/video-hashes"): {"admin"},
    ("GET", "/v1/banks/{name}/entries/{entry_id}/frames"): {"admin"},
    ("GET", "/v1/banks/{name}/entries"): {"admin"},
    ("GET", "/v1/banks/{name}/entries/{entry_id}"): {"admin"},
    ("POST", "/v1/banks/{name}/entries/{entry_id}/disable"): {"admin"},
    ("POST", "/v1/banks/{name}/entries/{entry_id}/enable"): {"admin"},
    ("DELETE", "/v1/banks/{name}/entries/{entry_id}"): {"admin"},
    ("POST", "/v1/banks/{name}/import"): {"admin"},
    ("GET", "/v1/banks/{name}/export"): {"admin"},
    # hash exchanges
    ("POST", "/v1/exchanges"): {"admin"},
    ("GET", "/v1/exchanges"): {"admin"},
    ("GET", "/v1/exchanges/{name}"): {"admin"},
    ("PATCH", "/v1/exchanges/{name}"): {"admin"},
    ("POST", "/v1/exchanges/{name}/fetch"): {"admin"},
    ("GET", "/v1/exchanges/{name}/records"): {"admin"},
    ("POST", "/v1/exchanges/{name}/records/{record_id}/overturn"): {"admin"},
    ("GET", "/v1/exchanges/{name}/feedback"): {"admin"},
    # takedown
    ("POST", "/v1/notices"): {"intake"},
    ("GET", "/v1/notices"): {"admin"},
    ("GET", "/v1/notices/{notice_id}"): {"admin"},
    ("POST", "/v1/notices/{notice_id}/info"): {"intake"},
    ("POST", "/v1/notices/{notice_id}/content/{item_id}/image"): {"intake"},
    **{
        ("POST", f"/v1/notices/{{notice_id}}/{verb}"): {"admin"}
        for verb in (
            "assign",
            "action",
            "validate",
            "request-info",
            "reject",
            "appeal",
            "counter-notice",
            "uphold",
            "restore",
            "close",
            "pause",
            "resume",
            "steps",
        )
    },
    ("POST", "/v1/notices/{notice_id}/copies/{copy_id}/remove"): {"admin"},
    ("POST", "/v1/notices/{notice_id}/copies/{copy_id}/dismiss"): {"admin"},
    ("GET", "/v1/notices/{notice_id}/evidence/{evidence_id}"): {"admin"},
    # statements of reasons: the platform shows them to its users
    ("GET", "/v1/statements"): {"checker", "intake"},
    ("GET", "/v1/statements/{statement_id}"): {"checker", "intake"},
    ("POST", "/v1/statements/{statement_id}/email"): {"checker", "intake"},
    # mandatory reporting: the reporter role alone (admins refused); the platform may add account details
    ("GET", "/v1/reporting/cases"): {"reporter"},
    ("POST", "/v1/reporting/cases"): {"reporter"},
    ("GET", "/v1/reporting/cases/{case_id}"): {"reporter"},
    ("PATCH", "/v1/reporting/cases/{case_id}"): {"reporter"},
    ("GET", "/v1/reporting/cases/{case_id}/files/{file_id}"): {"reporter"},
    ("PUT", "/v1/reporting/cases/{case_id}/account"): {"reporter", "intake"},
    ("POST", "/v1/reporting/cases/{case_id}/confirm"): {"reporter"},
    ("POST", "/v1/reporting/cases/{case_id}/dismiss"): {"reporter"},
    ("POST", "/v1/reporting/cases/{case_id}/legal-hold"): {"reporter"},
    ("POST", "/v1/reporting/cases/{case_id}/destruction-request"): {"reporter"},
    # redress: the platform (checker keys) files appeals and counter-notices for its uploaders, a
    # notice's submitter (intake) the reporter's appeal; each key reads what it filed; admins decide
    ("POST", "/v1/appeals"): {"checker", "intake"},
    ("GET", "/v1/appeals"): {"admin"},
    ("GET", "/v1/appeals/{appeal_id}"): {"checker", "intake"},
    ("POST", "/v1/appeals/{appeal_id}/decision"): {"admin"},
    ("POST", "/v1/notices/{notice_id}/counter-notices"): {"checker"},
    ("GET", "/v1/counter-notices"): {"admin"},
    ("GET", "/v1/counter-notices/{counter_id}"): {"checker", "intake"},
    ("POST", "/v1/counter-notices/{counter_id}/court-action"): {"admin"},
}
# Routes `admin` does not pass (CyberTipline material: access kept to the reporting role).
REPORTER_ONLY = {route for route in ROUTE_ROLES if route[1].startswith("/v1/reporting/")}


def _v1_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    for path, route in api_routes(client.app):
        if path.startswith("/v1/"):
            routes.extend((method, path) for method in sorted(route.methods))
    assert len(routes) > 40, "the application's /v1 routes were not found"
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_v1_route_is_in_the_matrix(app_client: TestClient) -> None:
    missing = sorted(set(_v1_routes(app_client)) - set(ROUTE_ROLES))
    assert not missing, f"add these routes to ROUTE_ROLES with their roles: {missing}"


@pytest.mark.parametrize(("method", "path"), sorted(ROUTE_ROLES))
def test_route_rejects_missing_revoked_and_wrong_role(
    app_client: TestClient, make_key: Callable[..., str], method: str, path: str
) -> None:
    url = _concrete(path)
    response = app_client.request(method, url)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthenticated"

    revoked = make_key("admin", name="revoked-admin")
    assert CliRunner().invoke(cli, ["apikey", "revoke", "revoked-admin"]).exit_code == 0
    response = app_client.request(method, url, headers={"Authorization": f"Bearer {revoked}"})
    assert response.status_code == 401
    assert response.json()["code"] == "revoked_api_key"

    admitted = ROUTE_ROLES[(method, path)] | (set() if (method, path) in REPORTER_ONLY else {"admin"})
    for role in sorted(ALL_ROLES - admitted):
        response = app_client.request(method, url, headers={"Authorization": f"Bearer {make_key(role)}"})
        assert response.status_code == 403, (role, response.text)
        assert response.json()["code"] == "forbidden"
    for role in sorted(admitted):
        response = app_client.request(method, url, headers={"Authorization": f"Bearer {make_key(role)}"})
        assert response.status_code not in (401, 403), (role, response.text)
