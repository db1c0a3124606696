"""`GET /metrics`: check counters and stage latencies, notices open and overdue per regime, outbox
depth and age, job runs, and the token that protects it (real app, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.kit.time import set_clock
from moderation.worker.runner import run_once
from tests.factories import jpeg, post_check
from tests.observability.conftest import parse, value
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _scrape(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_checks_are_counted_by_decision_source_and_cache_with_stage_latencies(
    app_client: TestClient, auth: Auth
) -> None:
    checker = auth("checker")
    before = parse(_scrape(app_client))
    image = jpeg(7)
    first = post_check(app_client, checker, image, {"source": "generated"}).json()
    assert first["cached"] is False
    decided = first["decision"]
    assert post_check(app_client, checker, image, {"source": "generated"}).json()["cached"] is True
    post_check(app_client, checker, jpeg(8))
    after = parse(_scrape(app_client))

    def delta(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert delta("moderation_checks_total", decision=decided, source="generated", cached="false") == 1
    assert delta("moderation_checks_total", decision=decided, source="generated", cached="true") == 1
    assert delta("moderation_checks_total", decision="allow", source="unknown", cached="false") == 1
    # Decoding and hashing ran for the two uncached checks only; every check has a total.
    assert delta("moderation_check_stage_seconds_count", stage="decode_hash") == 2
    assert delta("moderation_check_stage_seconds_count", stage="store") == 2
    assert delta("moderation_check_stage_seconds_count", stage="total") == 3
    assert delta("moderation_check_stage_seconds_sum", stage="decode_hash") > 0
    assert delta("moderation_http_requests_total", method="POST", route="/v1/check", status="200") == 3


def test_notices_open_and_overdue_per_regime_follow_the_clock(app_client: TestClient, auth: Auth) -> None:
    set_clock(T0)
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["post-1"]},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    )
    assert created.status_code == 201, created.text
    now = parse(_scrape(app_client))
    assert value(now, "moderation_notices_open", regime="us-take-it-down") == 1
    assert value(now, "moderation_notices_overdue", regime="us-take-it-down") is None

    set_clock(T0 + timedelta(hours=49))  # TAKE IT DOWN: 48 hours
    late = parse(_scrape(app_client))
    assert value(late, "moderation_notices_overdue", regime="us-take-it-down") == 1

    admin = auth("admin")
    url = f"/v1/notices/{created.json()['id']}"
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    assert app_client.post(f"{url}/action", json={"reason": "valid"}, headers=admin).status_code == 200
    done = parse(_scrape(app_client))
    assert value(done, "moderation_notices_open", regime="us-take-it-down") is None
    assert value(done, "moderation_notices_overdue", regime="us-take-it-down") is None
    # Received at T0, actioned 49 hours later: the only figure, so every quantile says 49 h.
    assert value(done, "moderation_notice_time_to_action_seconds", quantile="0.5") == 49 * 3600
    # The action enqueued a webhook that nobody delivered yet (no URL configured): one, 0 s old.
    assert value(done, "moderation_outbox_depth", outbox="webhook") == 1
    assert value(done, "moderation_outbox_oldest_undelivered_age_seconds", outbox="webhook") == 0
    set_clock(T0 + timedelta(hours=50))
    later = parse(_scrape(app_client))
    assert value(later, "moderation_outbox_oldest_undelivered_age_seconds", outbox="webhook") == 3600


def test_job_runs_report_last_success_and_failure(
    app_client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_clock(T0)
    [ok] = run_once(engine, settings, names=["email.deliver_outbox"])
    assert ok.status == "ok"
    samples = parse(_scrape(app_client))
    assert value(samples, "moderation_job_last_success_timestamp_seconds", job="email.deliver_outbox") == (
        T0.timestamp()
    )
    assert value(samples, "moderation_job_runs_total", job="email.deliver_outbox", outcome="ok") is not None

    from moderation.email import tasks as email_tasks

    def broken(*_: object, **__: object) -> list[int]:
        raise RuntimeError("smtp outbox unreadable")

    monkeypatch.setattr(email_tasks.outbox, "due", broken)
    set_clock(T0 + timedelta(minutes=5))
    [failed] = run_once(engine, settings, names=["email.deliver_outbox"])
    assert failed.status == "failed"
    samples = parse(_scrape(app_client))
    assert value(samples, "moderation_job_last_failure_timestamp_seconds", job="email.deliver_outbox") == (
        (T0 + timedelta(minutes=5)).timestamp()
    )
    # The last success stays where it was: an alert on its age fires while the job keeps failing.
    assert value(samples, "moderation_job_last_success_timestamp_seconds", job="email.deliver_outbox") == (
        T0.timestamp()
    )


def test_match_index_gauges_come_from_the_serving_process(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    assert app_client.post("/v1/banks", json={"name": "known"}, headers=admin).status_code in (200, 201)
    added = app_client.post(
        "/v1/banks/known/entries", json={"hashes": [{"type": "sha256", "value": "ab" * 32}]}, headers=admin
    )
    assert added.status_code in (200, 201), added.text
    from moderation.matching.service import matcher

    matcher.refresh()
    samples = parse(_scrape(app_client))
    assert value(samples, "moderation_match_index_entries") == 1
    lag = value(samples, "moderation_match_index_lag_seconds")
    assert lag is not None and 0 <= lag < 60


def test_token_protects_metrics(settings: Settings) -> None:
    from moderation.app import create_app

    protected = settings.model_copy(update={"metrics_token": "scrape-token-0123456789"})
    with TestClient(create_app(protected), raise_server_exceptions=False) as client:
        assert client.get("/metrics").json()["code"] == "invalid_metrics_token"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        _scrape(client, {"Authorization": "Bearer scrape-token-0123456789"})


def test_production_without_token_hides_metrics(settings: Settings) -> None:
    from moderation.app import create_app

    production = settings.model_copy(
        update={"env": "production", "secret_key": "s" * 32, "action_webhook_secret": "w" * 32}
    )
    with TestClient(create_app(production), raise_server_exceptions=False) as client:
        response = client.get("/metrics")
        assert response.status_code == 404 and response.json()["code"] == "metrics_disabled"


def test_classifier_queue_and_batches_are_sampled_from_its_probe(app_client: TestClient) -> None:
    state = {"state": "ready", "queue_depth": 3, "batches": 2, "batched_images": 7}
    app_client.app.state.readiness["classifier"] = lambda: dict(state)  # type: ignore[attr-defined]
    before = parse(_scrape(app_client))
    state.update(queue_depth=0, batches=5, batched_images=31)
    after = parse(_scrape(app_client))
    assert value(before, "moderation_classifier_queue_depth") == 3
    assert value(after, "moderation_classifier_queue_depth") == 0
    # Counters grow by what the batcher ran between two samples: 3 batches of 24 images.
    batches = (value(after, "moderation_classifier_batches_total") or 0) - (
        value(before, "moderation_classifier_batches_total") or 0
    )
    images = (value(after, "moderation_classifier_batch_images_total") or 0) - (
        value(before, "moderation_classifier_batch_images_total") or 0
    )
    assert (batches, images) == (3, 24)


def test_audit_checkpoint_age_follows_the_last_seal(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    set_clock(T0)
    assert value(parse(_scrape(app_client)), "moderation_audit_checkpoint_age_seconds") is None
    post_check(app_client, auth("checker"), jpeg(11))
    [sealed] = run_once(engine, settings, names=["checks.seal_decisions"])
    assert sealed.status == "ok"
    set_clock(T0 + timedelta(minutes=10))
    assert value(parse(_scrape(app_client)), "moderation_audit_checkpoint_age_seconds") == 600
