"""Request ids: taken from `X-Request-ID` or generated, returned, stored with the audit events a
request writes (inside the hash chain), and carried into the worker's delivery of what it enqueued."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.db import session_factory
from moderation.kit.request_context import bound_request_id
from moderation.models.audit_event import AuditEvent
from moderation.observability.logs import configure_logging
from moderation.takedown import webhook
from moderation.takedown.tasks import deliver_webhooks
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]


def _events(engine: Engine, action: str) -> list[AuditEvent]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_request_id_is_echoed_generated_or_replaced(app_client: TestClient) -> None:
    given = app_client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.42"})
    assert given.headers["x-request-id"] == "edge-7f3a.42"
    generated = app_client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32 and generated != app_client.get("/healthz").headers["x-request-id"]
    # A header that could forge log lines or overflow the column is replaced, not echoed.
    for hostile in ('evil"\n{"level": "ERROR"}', "x" * 65):
        answered = app_client.get("/healthz", headers={"X-Request-ID": hostile}).headers["x-request-id"]
        assert answered != hostile and len(answered) == 32


def test_audit_events_store_the_request_id_inside_the_hash_chain(
    app_client: TestClient, auth: Auth, engine: Engine, session: Session
) -> None:
    response = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "reporter": {"email": "person@example.org"},
            "fields": {"reason": "harassment", "signature": "/s/ A. Person"},
        },
        headers={**auth("intake"), "X-Request-ID": "intake-req-1"},
    )
    assert response.status_code == 201, response.text
    [event] = _events(engine, "notice.received")
    assert event.request_id == "intake-req-1"
    assert audit.verify(session).ok
    # The id is hashed: changing it (bypassing the triggers) breaks verification at that event.
    from moderation.audit.service import canonical_hash

    content = {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "policy_version": event.policy_version,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    assert canonical_hash(**content, request_id="intake-req-1") == event.hash
    assert canonical_hash(**content, request_id="other") != event.hash


def test_webhook_delivery_runs_under_the_id_of_the_request_that_actioned(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    admin = auth("admin")
    notice = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["post-1"]},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    ).json()
    url = f"/v1/notices/{notice['id']}"
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = app_client.post(
        f"{url}/action", json={"reason": "valid"}, headers={**admin, "X-Request-ID": "action-req-9"}
    )
    assert actioned.status_code == 200, actioned.text

    seen: list[str | None] = []

    def send(_url: str, _body: bytes, _headers: dict[str, str], _timeout: float) -> webhook.SendResult:
        from moderation.kit.request_context import current_request_id

        seen.append(current_request_id())
        return webhook.SendResult(ok=True, status_code=200, error=None)

    configured = settings.model_copy(update={"action_webhook_url": "http://platform.invalid/hook"})
    with bound_request_id("job:takedown.deliver_webhooks:test"):
        run = deliver_webhooks(engine, settings=configured, send=send)
    assert run.delivered == 1 and seen == ["action-req-9"]
    [delivered] = _events(engine, "notice.action_delivered")
    assert delivered.request_id == "action-req-9" and delivered.actor == "system:takedown.deliver_webhooks"


def test_json_logs_are_one_object_per_line_with_the_request_id() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "json", stream, force=True)
        log = logging.getLogger("moderation.test")
        with bound_request_id("req-123"):
            log.info("checked %s", "c-1", extra={"fields": {"decision": "allow"}})
            log.warning("key mod_abcd1234_SECRETSECRETSECRET and Bearer abcdefghijklmnop leaked")
        log.info("outside")
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3 and lines[0]["message"] == "checked c-1"
    assert lines[0]["request_id"] == "req-123" and lines[0]["decision"] == "allow"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "moderation.test"
    assert "SECRET" not in lines[1]["message"] and "abcdefghijklmnop" not in lines[1]["message"]
    assert lines[2]["request_id"] is None


def test_text_logs_carry_the_request_id() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        configure_logging("INFO", "text", stream, force=True)
        with bound_request_id("req-456"):
            logging.getLogger("moderation.test").info("hello")
    finally:
        for handler in list(root.handlers):
            if handler not in saved:
                root.removeHandler(handler)
    assert "[req-456]: hello" in stream.getvalue()
