"""The takedown API: intake, queue with keyset paging and filters, detail, assignment, 409s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from moderation.config import Settings
from moderation.kit.time import set_clock
from tests.takedown.conftest import T0, FakeStayDown, b64, notice_body

Auth = Callable[[str], dict[str, str]]


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _post(client: TestClient, headers: dict[str, str], **overrides: object) -> dict:
    response = client.post("/v1/notices", json=notice_body(**overrides), headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_intake_stores_and_answers_with_clocks(app_client: TestClient, auth: Auth) -> None:
    intake = auth("intake")
    receipt = _post(app_client, intake, client_reference="form-1")
    assert receipt["created"] is True and receipt["state"] == "received"
    assert receipt["due_at"] == "2026-11-25T12:00:00Z" and receipt["missing_fields"] == {}
    body = app_client.get(f"/v1/notices/{receipt['id']}", headers=auth("admin")).json()
    assert body["due_at"] == "2026-11-25T12:00:00Z" and body["time_remaining_seconds"] == 48 * 3600
    assert body["clocks"][0]["regime_version"] == "2026-05-19"
    assert body["timeline"][0]["action"] == "notice.received"
    assert body["timeline"][0]["actor"].startswith("apikey:")

    again = app_client.post("/v1/notices", json=notice_body(client_reference="form-1"), headers=intake)
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["created"] is False


def test_bad_input_gets_stable_codes_not_500(app_client: TestClient, auth: Auth) -> None:
    intake = auth("intake")
    cases = [
        ({"regimes": []}, 422, "validation_error"),
        ({"regimes": ["nope"]}, 404, "unknown_regime"),
        ({"channel": "pigeon"}, 422, "validation_error"),
        ({"content": {"image_base64": "%%%"}}, 422, "invalid_notice"),
        ({"content": {"image_base64": b64(b"not an image at all")}}, 201, None),
    ]
    for overrides, status, code in cases:
        response = app_client.post("/v1/notices", json=notice_body(**overrides), headers=intake)
        assert response.status_code == status, (overrides, response.text)
        if code:
            assert response.json()["code"] == code
    # The unreadable upload is kept (encrypted) with the reason it could not be hashed.
    kept = app_client.get(f"/v1/notices/{response.json()['id']}", headers=auth("admin")).json()
    assert kept["content"][-1]["note"].startswith(("unsupported_format", "corrupt_image"))
    assert kept["evidence"][0]["encrypted_bytes"] is True


def test_queue_sorted_by_due_time_with_keyset_paging_and_filters(app_client: TestClient, auth: Auth) -> None:
    intake, admin = auth("intake"), auth("admin")
    tid = _post(app_client, intake)  # due +48 h
    tco = _post(
        app_client,
        intake,
        regimes=["eu-tco"],
        fields={"reasons": "r", "issuing_authority": "a", "authority_reference": "x"},
    )  # due +1 h
    dsa = _post(app_client, intake, regimes=["eu-dsa-16"], fields={})  # internal target +24 h
    waiting = _post(app_client, intake, fields={})  # incomplete TAKE IT DOWN request: no clock yet
    late = _post(app_client, intake, channel="post", received_at=(T0 - timedelta(hours=50)).isoformat())

    first = app_client.get("/v1/notices?limit=2", headers=admin).json()
    assert [i["id"] for i in first["items"]] == [late["id"], tco["id"]]
    assert first["items"][0]["overdue"] is True and first["items"][0]["time_remaining_seconds"] == -2 * 3600
    second = app_client.get(f"/v1/notices?limit=2&cursor={first['next_cursor']}", headers=admin).json()
    assert [i["id"] for i in second["items"]] == [dsa["id"], tid["id"]]
    third = app_client.get(f"/v1/notices?limit=2&cursor={second['next_cursor']}", headers=admin).json()
    assert [i["id"] for i in third["items"]] == [waiting["id"]] and third["next_cursor"] is None
    assert third["items"][0]["due_at"] is None

    overdue = app_client.get("/v1/notices?overdue=true", headers=admin).json()["items"]
    assert [i["id"] for i in overdue] == [late["id"]]
    by_regime = app_client.get("/v1/notices?regime=eu-tco", headers=admin).json()["items"]
    assert [i["id"] for i in by_regime] == [tco["id"]]
    needs_info = app_client.get("/v1/notices?state=needs_info", headers=admin).json()["items"]
    assert [i["id"] for i in needs_info] == [dsa["id"], waiting["id"]]

    assigned = app_client.post(f"/v1/notices/{tco['id']}/assign", json={"assignee": "rev-1"}, headers=admin)
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "rev-1"
    mine = app_client.get("/v1/notices?assignee=rev-1", headers=admin).json()["items"]
    assert [i["id"] for i in mine] == [tco["id"]]
    assert app_client.get("/v1/notices?cursor=garbage", headers=admin).json()["code"] == "invalid_cursor"


def test_transitions_over_http(app_client: TestClient, auth: Auth, fake_stay_down: FakeStayDown) -> None:
    admin = auth("admin")
    notice = _post(app_client, auth("intake"))
    url = f"/v1/notices/{notice['id']}"
    early = app_client.post(f"{url}/action", headers=admin)
    assert early.status_code == 409 and early.json()["code"] == "illegal_transition"
    assert app_client.post(f"{url}/reject", json={}, headers=admin).status_code == 422
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = app_client.post(f"{url}/action", json={"reason": "valid request"}, headers=admin)
    assert actioned.status_code == 200 and actioned.json()["state"] == "actioned"
    assert actioned.json()["deliveries"][0]["state"] == "pending"
    assert app_client.post(f"{url}/action", headers=admin).status_code == 409
    missing = app_client.get("/v1/notices/999999", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "notice_not_found"


def test_supply_missing_info_over_http(app_client: TestClient, auth: Auth) -> None:
    intake = auth("intake")
    notice = _post(app_client, intake, fields={})
    assert notice["state"] == "needs_info" and notice["due_at"] is None
    set_clock(T0 + timedelta(hours=1))
    response = app_client.post(
        f"/v1/notices/{notice['id']}/info",
        json={"fields": {"signature": "/s/ A", "non_consent_statement": "no consent"}},
        headers=intake,
    )
    assert response.status_code == 200, response.text
    assert response.json()["missing_fields"] == {}
    assert response.json()["due_at"] == "2026-11-25T13:00:00Z"


def test_regime_filter_lists_each_open_notice_once_by_its_due_time(
    app_client: TestClient, auth: Auth, fake_stay_down: FakeStayDown
) -> None:
    intake, admin = auth("intake"), auth("admin")
    dsa_fields = {"explanation": "x", "good_faith_statement": "y"}
    both = _post(
        app_client,
        intake,
        regimes=["us-dmca", "eu-dsa-16"],
        fields={"signature": "s", "copyrighted_work": "w", "accuracy_statement": "a", **dsa_fields},
    )
    dsa_only = _post(
        app_client,
        intake,
        regimes=["eu-dsa-16"],
        fields=dsa_fields,
        received_at=(T0 - timedelta(hours=1)).isoformat(),
    )
    done = _post(app_client, intake, regimes=["eu-dsa-16"], fields=dsa_fields)
    app_client.post(f"/v1/notices/{done['id']}/validate", headers=admin)
    app_client.post(f"/v1/notices/{done['id']}/action", headers=admin)

    page = app_client.get("/v1/notices?regime=eu-dsa-16&limit=1", headers=admin).json()
    assert [i["id"] for i in page["items"]] == [dsa_only["id"]]
    rest = app_client.get(f"/v1/notices?regime=eu-dsa-16&cursor={page['next_cursor']}", headers=admin).json()
    assert [i["id"] for i in rest["items"]] == [both["id"]] and rest["next_cursor"] is None
    assert rest["items"][0]["due_at"] == both["due_at"]  # the notice's earliest clock over both regimes
    dmca = app_client.get("/v1/notices?regime=us-dmca", headers=admin).json()["items"]
    assert [i["id"] for i in dmca] == [both["id"]]
    actioned = app_client.get("/v1/notices?regime=eu-dsa-16&state=actioned", headers=admin).json()["items"]
    assert [i["id"] for i in actioned] == [done["id"]]
