"""Reporter notices (DSA Art. 16(4)-(5)): an acknowledgement on intake and a notice per decision,
each sent exactly once with two workers delivering, and as webhook events when enabled."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.app import create_app
from moderation.config import Settings, get_settings
from moderation.takedown.tasks import deliver_webhooks
from tests.email.smtp_server import SMTPServer
from tests.redress.conftest import deliver_emails, mail_to, subjects
from tests.takedown.receiver import webhook_receiver

Auth = Callable[[str], dict[str, str]]
REPORTER = "reporter.two@example.org"


def test_acknowledgement_and_decision_are_each_emailed_once_with_two_workers(
    app_client: TestClient, auth: Auth, engine: Engine, mail_settings: Settings, smtp_server: SMTPServer
) -> None:
    body = {
        "regimes": ["terms-of-service"],
        "reporter": {"email": REPORTER},
        "content": {"content_ids": ["c-2"]},
        "fields": {"reason": "harassment", "signature": "/s/ A. Person"},
        "client_reference": "ref-2",
    }
    intake = auth("intake")
    created = app_client.post("/v1/notices", json=body, headers=intake)
    assert created.status_code == 201
    assert app_client.post("/v1/notices", json=body, headers=intake).status_code == 200  # a retry
    notice_id = created.json()["id"]
    deliver_emails(engine, mail_settings, workers=2)
    url = f"/v1/notices/{notice_id}"
    admin = auth("admin")
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    assert app_client.post(f"{url}/action", json={"reason": "harassment"}, headers=admin).status_code == 200
    assert app_client.post(f"{url}/action", json={"reason": "again"}, headers=admin).status_code == 409
    deliver_emails(engine, mail_settings, workers=2)
    deliver_emails(engine, mail_settings, workers=2)
    assert subjects(smtp_server, REPORTER) == [
        f"We acted on your notice (notice #{notice_id})",
        f"We received your notice (notice #{notice_id})",
    ]
    [acted] = [m for m in mail_to(smtp_server, REPORTER) if "acted" in m.subject]
    assert "harassment" in acted.text() and "<p>" in acted.html()
    timeline = app_client.get(url, headers=admin).json()["timeline"]
    notified = [e["details"]["event"] for e in timeline if e["action"] == "notice.reporter_notified"]
    assert notified == ["received", "actioned"]


def test_information_requested_and_webhook_events_when_enabled(
    auth: Auth,
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODERATION_REPORTER_WEBHOOK_EVENTS", "true")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as client:
        created = client.post(
            "/v1/notices",
            json={
                "regimes": ["terms-of-service"],
                "reporter": {"email": REPORTER},
                "content": {"content_ids": ["c-3"]},
            },
            headers=auth("intake"),
        ).json()
        url = f"/v1/notices/{created['id']}"
        assert created["state"] == "needs_info"
        admin = auth("admin")
        assert (
            client.post(f"{url}/reject", json={"reason": "no reason given"}, headers=admin).status_code == 200
        )
    with webhook_receiver() as receiver:
        deliver_webhooks(
            engine, settings=get_settings().model_copy(update={"action_webhook_url": receiver.url})
        )
    events = sorted(json.loads(r.body)["event"] for r in receiver.requests)
    assert events == ["reporter.received", "reporter.rejected"]
    deliver_emails(engine, get_settings())
    [rejected] = [m for m in mail_to(smtp_server, REPORTER) if "did not act" in m.subject]
    assert "no reason given" in rejected.text() and "complain" in rejected.text()
    [received] = [m for m in mail_to(smtp_server, REPORTER) if "received" in m.subject]
    assert "Still missing" in received.text()
