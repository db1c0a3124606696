"""An intake key reaches only its own notices, and a checker key only its own checks (issue 11,
finding 3): another partner's notice cannot be read, edited or claimed through its client reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from moderation.config import Settings
from moderation.kit.time import set_clock
from tests.factories import jpeg, post_check
from tests.takedown.conftest import T0, notice_body

Auth = Callable[[str], dict[str, str]]
SIGNATURE = "/s/ A. Person"


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _submit(client: TestClient, headers: dict[str, str], **overrides: object) -> dict:
    fields = {**notice_body()["fields"], "signature": SIGNATURE}
    body = notice_body(
        fields=fields, reporter={"name": "A. Person", "email": "a@example.org", "phone": "555"}
    )
    response = client.post("/v1/notices", json={**body, **overrides}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_another_partner_cannot_read_or_edit_a_notice(app_client: TestClient, auth: Auth) -> None:
    alice, mallory, admin = auth("intake"), auth("intake"), auth("admin")
    notice = _submit(app_client, alice, client_reference="alice-1")
    for body in ({}, {"fields": {"signature": "/s/ mallory"}}):
        response = app_client.post(f"/v1/notices/{notice['id']}/info", json=body, headers=mallory)
        assert response.status_code == 404 and response.json()["code"] == "notice_not_found"
        assert "a@example.org" not in response.text
    missing = app_client.post("/v1/notices/999999/info", json={}, headers=mallory)
    assert missing.json() | {"message": "", "details": {}} == response.json() | {"message": "", "details": {}}
    stored = app_client.get(f"/v1/notices/{notice['id']}", headers=admin).json()
    assert stored["statements"]["*"]["signature"] == SIGNATURE
    assert app_client.post(f"/v1/notices/{notice['id']}/info", json={}, headers=alice).status_code == 200


def test_another_partners_client_reference_is_a_conflict_that_names_nobody(
    app_client: TestClient, auth: Auth
) -> None:
    alice, mallory = auth("intake"), auth("intake")
    first = _submit(app_client, alice, client_reference="shared-ref")
    response = app_client.post(
        "/v1/notices", json=notice_body(client_reference="shared-ref"), headers=mallory
    )
    assert response.status_code == 409 and response.json()["code"] == "client_reference_taken"
    assert str(first["id"]) not in response.text and "a@example.org" not in response.text
    again = app_client.post("/v1/notices", json=notice_body(client_reference="shared-ref"), headers=alice)
    assert again.status_code == 200 and again.json()["id"] == first["id"]


def test_intake_answers_are_receipts_not_case_files(app_client: TestClient, auth: Auth) -> None:
    receipt = _submit(app_client, auth("intake"), client_reference="r-1")
    assert set(receipt) == {
        "id", "client_reference", "state", "channel", "received_at", "missing_fields", "regimes",
        "due_at", "overdue", "created", "content",
    }  # fmt: skip
    # The submitter's own references, with ids to attach images to; never reporter details.
    assert set(receipt["content"][0]) == {"id", "ref", "content_id", "url", "state", "stay_down"}
    full = app_client.get(f"/v1/notices/{receipt['id']}", headers=auth("admin")).json()
    assert full["reporter"]["email"] == "a@example.org" and full["timeline"]


def test_a_checker_reads_only_its_own_checks(app_client: TestClient, auth: Auth) -> None:
    mine, theirs = auth("checker"), auth("checker")
    made = post_check(app_client, mine, jpeg(40))
    assert made.status_code == 200, made.text
    check_id = made.json()["check_id"]
    assert app_client.get(f"/v1/check/{check_id}", headers=mine).status_code == 200
    other = app_client.get(f"/v1/check/{check_id}", headers=theirs)
    assert other.status_code == 404 and other.json()["code"] == "check_not_found"
    assert app_client.get(f"/v1/check/{check_id}", headers=auth("admin")).status_code == 200
