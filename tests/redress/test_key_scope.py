"""Key scope of redress filings (security): a check is appealed only by the checker key that made it,
an uploader's appeal of a removal and a counter-notice only by a platform key (checker or admin),
never a reporting partner's intake key; another key's check, notice or appeal answers 404 with the
usual not-found code, so nothing about its existence leaks."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.factories import bank_image, jpeg, post_check
from tests.redress.test_counter_notices_done_when import COUNTER, _removed

Auth = Callable[[str], dict[str, str]]


def _appeal(subject: dict[str, object], role: str = "uploader", **extra: object) -> dict[str, object]:
    return {"subject": subject, "appellant": {"role": role}, "statement": "mine", **extra}


def test_a_check_is_appealed_only_by_the_key_that_made_it(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    bank_image(engine, "known-bad", jpeg(101))
    owner, stranger, partner = auth("checker"), auth("checker"), auth("intake")
    blocked = post_check(app_client, owner, jpeg(101), {"content_id": "up-101"}).json()
    assert blocked["decision"] == "block"
    subject = {"type": "check", "id": blocked["check_id"]}
    for headers in (stranger, partner):
        foreign = app_client.post("/v1/appeals", json=_appeal(subject), headers=headers)
        assert foreign.status_code == 404 and foreign.json()["code"] == "check_not_found"
        missing = app_client.post(
            "/v1/appeals", json=_appeal({"type": "check", "id": 999_999}), headers=headers
        )
        assert missing.json() == foreign.json() | {"message": missing.json()["message"]}
    filed = app_client.post("/v1/appeals", json=_appeal(subject), headers=owner)
    assert filed.status_code == 201, filed.text
    appeal_id = filed.json()["id"]
    assert app_client.get(f"/v1/appeals/{appeal_id}", headers=owner).status_code == 200
    other = app_client.get(f"/v1/appeals/{appeal_id}", headers=stranger)
    assert other.status_code == 404 and other.json()["code"] == "appeal_not_found"
    admin = app_client.post(
        "/v1/appeals", json=_appeal(subject, client_reference="adm"), headers=auth("admin")
    )
    assert admin.status_code == 201


def test_uploader_appeals_of_removals_and_counter_notices_need_a_platform_key(
    app_client: TestClient, auth: Auth
) -> None:
    submitter = auth("intake")
    url = _removed(app_client, auth, "p-102")
    notice_id = int(url.rsplit("/", 1)[1])
    subject = {"type": "notice", "id": notice_id}
    for headers in (submitter, auth("intake")):
        refused = app_client.post("/v1/appeals", json=_appeal(subject), headers=headers)
        assert refused.status_code == 403 and refused.json()["code"] == "platform_key_required"
        counter = app_client.post(f"{url}/counter-notices", json=COUNTER, headers=headers)
        assert counter.status_code == 403 and counter.json()["code"] == "forbidden"
    admin = auth("admin")
    assert app_client.get(url, headers=admin).json()["state"] == "actioned"
    assert app_client.get("/v1/counter-notices", headers=admin).json()["items"] == []

    platform = auth("checker")
    counter = app_client.post(f"{url}/counter-notices", json=COUNTER, headers=platform)
    assert counter.status_code == 201, counter.text
    assert app_client.get(f"/v1/counter-notices/{counter.json()['id']}", headers=platform).status_code == 200
    foreign = app_client.get(f"/v1/counter-notices/{counter.json()['id']}", headers=auth("checker"))
    assert foreign.status_code == 404 and foreign.json()["code"] == "counter_notice_not_found"


def test_a_reporter_appeal_is_not_filed_by_a_platform_key(app_client: TestClient, auth: Auth) -> None:
    submitter = auth("intake")
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "content": {"content_ids": ["c-103"]},
            "fields": {"reason": "harassment", "signature": "/s/ A. Person"},
        },
        headers=submitter,
    ).json()
    url = f"/v1/notices/{created['id']}"
    assert app_client.post(f"{url}/reject", json={"reason": "no"}, headers=auth("admin")).status_code == 200
    subject = {"type": "notice", "id": created["id"]}
    refused = app_client.post("/v1/appeals", json=_appeal(subject, "reporter"), headers=auth("checker"))
    assert refused.status_code == 404 and refused.json()["code"] == "notice_not_found"
    filed = app_client.post("/v1/appeals", json=_appeal(subject, "reporter"), headers=submitter)
    assert filed.status_code == 201, filed.text
