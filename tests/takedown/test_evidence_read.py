"""Reading preserved evidence over HTTP: admin only, a reason required, every read audited."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.takedown.service import takedown
from moderation.takedown.tasks import purge_evidence
from tests.factories import generated_png
from tests.takedown.conftest import T0, FakeStayDown, b64, notice_body, submit

Auth = Callable[[str], dict[str, str]]


@pytest.fixture(autouse=True)
def _clock(settings: Settings) -> None:
    set_clock(T0)


def _notice_with_upload(client: TestClient, auth: Auth, image: bytes, **overrides: object) -> dict:
    body = notice_body(content={"content_ids": ["c-9"], "image_base64": b64(image)}, **overrides)
    response = client.post("/v1/notices", json=body, headers=auth("intake"))
    assert response.status_code == 201, response.text
    detail = client.get(f"/v1/notices/{response.json()['id']}", headers=auth("admin"))
    assert detail.status_code == 200, detail.text
    return detail.json()


def test_admin_reads_the_decrypted_upload_with_a_reason(app_client: TestClient, auth: Auth) -> None:
    image = generated_png(21)
    notice = _notice_with_upload(app_client, auth, image)
    [evidence] = notice["evidence"]
    url = f"/v1/notices/{notice['id']}/evidence/{evidence['id']}"

    response = app_client.get(url, params={"reason": "legal request LR-7"}, headers=auth("admin"))
    assert response.status_code == 200 and response.content == image
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-evidence-sha256"] == hashlib.sha256(image).hexdigest()

    timeline = app_client.get(f"/v1/notices/{notice['id']}", headers=auth("admin")).json()["timeline"]
    [read] = [e for e in timeline if e["action"] == "evidence.read"]
    assert read["actor"].startswith("apikey:")
    assert read["details"] == {
        "evidence_id": evidence["id"],
        "reason": "legal request LR-7",
        "child_safety": False,
    }


def test_a_reason_is_required(app_client: TestClient, auth: Auth) -> None:
    notice = _notice_with_upload(app_client, auth, generated_png(22))
    url = f"/v1/notices/{notice['id']}/evidence/{notice['evidence'][0]['id']}"
    for params in ({}, {"reason": ""}):
        response = app_client.get(url, params=params, headers=auth("admin"))
        assert response.status_code == 422 and response.json()["code"] == "validation_error"
    timeline = app_client.get(f"/v1/notices/{notice['id']}", headers=auth("admin")).json()["timeline"]
    assert not [e for e in timeline if e["action"] == "evidence.read"]


def test_unknown_foreign_and_hash_only_evidence(
    app_client: TestClient, auth: Auth, fake_stay_down: FakeStayDown
) -> None:
    admin = auth("admin")
    first = _notice_with_upload(app_client, auth, generated_png(23))
    second = _notice_with_upload(app_client, auth, generated_png(24), client_reference="second")
    reason = {"reason": "check"}
    foreign = app_client.get(
        f"/v1/notices/{second['id']}/evidence/{first['evidence'][0]['id']}", params=reason, headers=admin
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "evidence_not_found"
    missing = app_client.get("/v1/notices/999999/evidence/1", params=reason, headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "notice_not_found"

    url = f"/v1/notices/{first['id']}"
    app_client.post(f"{url}/validate", headers=admin)
    detail = app_client.post(f"{url}/action", headers=admin).json()
    [hash_only] = [e for e in detail["evidence"] if not e["encrypted_bytes"]]
    response = app_client.get(f"{url}/evidence/{hash_only['id']}", params=reason, headers=admin)
    assert response.status_code == 404 and response.json()["code"] == "evidence_bytes_not_held"


def test_child_safety_evidence_read_is_flagged_in_the_audit(app_client: TestClient, auth: Auth) -> None:
    notice = _notice_with_upload(app_client, auth, generated_png(25), child_safety=True)
    url = f"/v1/notices/{notice['id']}/evidence/{notice['evidence'][0]['id']}"
    assert app_client.get(url, params={"reason": "NCMEC report"}, headers=auth("admin")).status_code == 200
    timeline = app_client.get(f"/v1/notices/{notice['id']}", headers=auth("admin")).json()["timeline"]
    [read] = [e for e in timeline if e["action"] == "evidence.read"]
    assert read["details"]["child_safety"] is True and read["details"]["reason"] == "NCMEC report"


def test_purged_evidence_is_410(
    session: Session, settings: Settings, engine: Engine, fake_stay_down: FakeStayDown
) -> None:
    notice = submit(
        session,
        settings,
        regimes=["terms-of-service"],
        content={"image_base64": b64(generated_png(26))},
        fields={"reason": "spam"},
    )
    [evidence] = takedown.detail(session, notice.id, settings).model_dump()["evidence"]
    data = takedown.read_evidence(
        session, notice.id, evidence["id"], actor="cli:ops", reason="x", settings=settings
    )
    assert data.media_type == "image/png" and data.child_safety is False
    takedown.transition(session, notice.id, "reject", actor="admin", reason="not ours", settings=settings)
    session.commit()
    set_clock(T0 + timedelta(days=1))
    assert purge_evidence(engine) == 1
    session.expire_all()
    with pytest.raises(ModerationError) as caught:
        takedown.read_evidence(
            session, notice.id, evidence["id"], actor="cli:ops", reason="x", settings=settings
        )
    assert (caught.value.status, caught.value.code) == (410, "evidence_purged")
