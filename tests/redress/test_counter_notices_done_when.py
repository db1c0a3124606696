"""Done-when, counter-notices: a DMCA removal, a complete counter-notice, the claimant emailed, the
restore by the worker on the right US business day with Thanksgiving inside the window, no restore
after a court action, an alert when the window is about to be missed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import Conflict
from moderation.kit.time import set_clock
from moderation.redress.tasks import RESTORE_COUNTER_NOTICED, SCAN_CLOCKS
from moderation.takedown.service import takedown
from moderation.takedown.tasks import deliver_webhooks
from tests.admin.conftest import sign_in
from tests.email.smtp_server import SMTPServer
from tests.redress.conftest import deliver_emails, mail_to, run_job
from tests.takedown.receiver import webhook_receiver

Auth = Callable[[str], dict[str, str]]
CLAIMANT = "rights.holder@example.org"
# Monday 16 Nov 2026, 12:00 in New York.
MONDAY = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)
# 10 US business days after Monday 16 Nov skip Thanksgiving (Thu 26 Nov): the 10th is Tue 1 Dec,
# so the window opens at 00:00 New York on Wed 2 Dec (05:00 UTC); the 14th is Mon 7 Dec.
OPENS = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
CLOSES = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)
COUNTER = {
    "signature": "/s/ U. Ploader",
    "material": "holiday.jpg, formerly at https://platform.example/p/77",
    "good_faith_statement": "I swear under penalty of perjury that it was removed by mistake.",
    "perjury_acknowledged": True,
    "jurisdiction_consent": True,
    "name": "U. Ploader",
    "address": "1 Main St, Springfield",
    "phone": "+1 555 0100",
    "email": "uploader@example.org",
}


def _removed(client: TestClient, auth: Auth, content_id: str) -> str:
    created = client.post(
        "/v1/notices",
        json={
            "regimes": ["us-dmca"],
            "reporter": {"name": "Rights Holder", "email": CLAIMANT},
            "content": {"content_ids": [content_id]},
            "fields": {
                "signature": "/s/ R. Holder",
                "copyrighted_work": "my photo",
                "infringing_material_location": "https://platform.example/p/77",
                "contact": "rights.holder@example.org",
                "good_faith_statement": "good faith",
                "accuracy_statement": "accurate",
            },
        },
        headers=auth("intake"),
    )
    assert created.status_code == 201, created.text
    url = f"/v1/notices/{created.json()['id']}"
    admin = auth("admin")
    assert client.post(f"{url}/validate", headers=admin).status_code == 200
    assert client.post(f"{url}/action", json={"reason": "valid notice"}, headers=admin).status_code == 200
    return url


def test_counter_notice_restores_on_the_tenth_business_day_not_before(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SMTPServer,
    make_user: Callable[..., str],
) -> None:
    set_clock(MONDAY - timedelta(hours=2))
    url = _removed(app_client, auth, "p-77")
    notice_id = int(url.rsplit("/", 1)[1])
    set_clock(MONDAY)
    incomplete = app_client.post(
        f"{url}/counter-notices",
        json={**COUNTER, "perjury_acknowledged": False, "phone": " "},
        headers=auth("checker"),
    )
    assert incomplete.status_code == 422 and incomplete.json()["code"] == "counter_notice_incomplete"
    assert incomplete.json()["details"]["missing"] == ["perjury_acknowledged", "phone"]

    platform = auth("checker")
    filed = app_client.post(
        f"{url}/counter-notices", json={**COUNTER, "client_reference": "cn-77"}, headers=platform
    )
    assert filed.status_code == 201, filed.text
    counter = filed.json()
    assert counter["restore_from"] == OPENS.isoformat().replace("+00:00", "Z")
    assert counter["restore_by"] == CLOSES.isoformat().replace("+00:00", "Z")
    again = app_client.post(
        f"{url}/counter-notices", json={**COUNTER, "client_reference": "cn-77"}, headers=platform
    )
    assert again.status_code == 200 and again.json()["id"] == counter["id"]
    taken = app_client.post(
        f"{url}/counter-notices", json={**COUNTER, "client_reference": "cn-77"}, headers=auth("checker")
    )
    assert taken.status_code == 409 and taken.json()["code"] == "client_reference_taken"
    assert app_client.get(url, headers=auth("admin")).json()["state"] == "counter_noticed"

    deliver_emails(engine, mail_settings)
    [copy] = [m for m in mail_to(smtp_server, CLAIMANT) if "Counter-notice" in m.subject]
    assert "U. Ploader" in copy.text() and "2026-12-02T05:00:00+00:00" in copy.text()

    set_clock(OPENS - timedelta(seconds=1))
    assert run_job(engine, mail_settings, RESTORE_COUNTER_NOTICED)["restored"] == 0
    assert app_client.get(url, headers=auth("admin")).json()["state"] == "counter_noticed"
    set_clock(OPENS + timedelta(minutes=1))
    assert run_job(engine, mail_settings, RESTORE_COUNTER_NOTICED)["restored"] == 1
    assert run_job(engine, mail_settings, RESTORE_COUNTER_NOTICED, worker="worker-2")["restored"] == 0
    detail = app_client.get(url, headers=auth("admin")).json()
    assert detail["state"] == "restored" and {c["state"] for c in detail["content"]} == {"restored"}
    stored = app_client.get(f"/v1/counter-notices/{counter['id']}", headers=auth("admin")).json()
    assert stored["state"] == "restored"

    with webhook_receiver() as receiver:
        configured = mail_settings.model_copy(update={"action_webhook_url": receiver.url})
        deliver_webhooks(engine, settings=configured)
    events = [json.loads(r.body)["event"] for r in receiver.requests]
    assert events.count("content.restore") == 1
    assert notice_id == detail["id"]

    sign_in(app_client, make_user("auditor", "ada"))
    page = app_client.get(f"/admin/notices/{notice_id}").text
    assert f"counter-notice #{counter['id']} <b>restored</b>: restore from 2026-12-02 05:00" in page


def test_no_restore_after_a_court_action_and_an_alert_before_the_window_closes(
    app_client: TestClient,
    auth: Auth,
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_clock(MONDAY - timedelta(hours=2))
    sued = _removed(app_client, auth, "p-78")
    stuck = _removed(app_client, auth, "p-79")
    set_clock(MONDAY)
    sued_counter = app_client.post(f"{sued}/counter-notices", json=COUNTER, headers=auth("checker")).json()
    stuck_counter = app_client.post(f"{stuck}/counter-notices", json=COUNTER, headers=auth("checker")).json()

    set_clock(OPENS - timedelta(days=1))
    court = app_client.post(
        f"/v1/counter-notices/{sued_counter['id']}/court-action",
        json={"note": "Holder v. Ploader, S.D.N.Y., filed 1 Dec 2026"},
        headers=auth("admin"),
    )
    assert court.status_code == 200 and court.json()["state"] == "court_action"
    assert app_client.get(sued, headers=auth("admin")).json()["state"] == "actioned"

    # The other notice cannot be restored (its restore fails, here because the platform's restore
    # path is down): it waits, and the scan alerts once before the window closes.
    admin = auth("admin")
    stuck_id = int(stuck.rsplit("/", 1)[1])
    apply_redress = takedown.apply_redress

    def failing(session: Session, notice_id: int, name: str, **kwargs: Any) -> object:
        if notice_id == stuck_id and name == "restore":
            raise Conflict("the restore path is down", code="restore_failed")
        return apply_redress(session, notice_id, name, **kwargs)

    monkeypatch.setattr(takedown, "apply_redress", failing)
    set_clock(OPENS + timedelta(hours=1))
    result = run_job(engine, mail_settings, RESTORE_COUNTER_NOTICED)
    assert result == {"restored": 0, "failed": 1}
    assert app_client.get(sued, headers=admin).json()["state"] == "actioned"
    assert run_job(engine, mail_settings, SCAN_CLOCKS)["windows_closing"] == 0
    set_clock(CLOSES - timedelta(hours=47))
    assert run_job(engine, mail_settings, SCAN_CLOCKS)["windows_closing"] == 1
    assert run_job(engine, mail_settings, SCAN_CLOCKS)["windows_closing"] == 0
    deliver_emails(engine, mail_settings)
    alerts = [m for m in mail_to(smtp_server, "oncall@example.test") if "restore window closes" in m.subject]
    assert [a.subject.split(":")[0] for a in alerts] == [f"Counter-notice #{stuck_counter['id']}"]

    late = app_client.post(
        f"/v1/counter-notices/{stuck_counter['id']}/court-action", json={"note": "x"}, headers=admin
    )
    assert late.status_code == 200  # still waiting: a court action stops it
    missing = app_client.post(f"{sued}/counter-notices", json={}, headers=auth("checker"))
    assert missing.status_code == 422 and len(missing.json()["details"]["missing"]) == 8


def test_counter_notice_needs_a_regime_with_one(app_client: TestClient, auth: Auth) -> None:
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "content": {"content_ids": ["c-5"]},
            "fields": {"reason": "harassment", "signature": "/s/ A. Person"},
        },
        headers=auth("intake"),
    ).json()
    url = f"/v1/notices/{created['id']}"
    refused = app_client.post(f"{url}/counter-notices", json=COUNTER, headers=auth("checker"))
    assert refused.status_code == 409 and refused.json()["code"] == "counter_notice_not_available"
    assert app_client.get("/v1/counter-notices/999", headers=auth("admin")).status_code == 404
