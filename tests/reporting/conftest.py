"""Reporting tests: settings pointing at the local CyberTipline fake, an app client built with them,
and helpers to open cases through real checks against a child-safety bank."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings, get_settings
from moderation.kit.time import set_clock, utc_now
from moderation.reporting.client import CyberTipClient, endpoint
from moderation.reporting.submission import SubmissionRun, submit_due
from tests.factories import bank_image, generated_png, post_check
from tests.reporting.fake_ncmec import PASSWORD, USERNAME, FakeCyberTip, fake_cybertip

CSAM_BANK = "child-safety-test"
WORKER_ACTOR = "system:reporting.submit_reports"


@pytest.fixture
def cybertip() -> Iterator[FakeCyberTip]:
    with fake_cybertip() as fake:
        yield fake


@pytest.fixture
def reporting_settings(
    settings: Settings, cybertip: FakeCyberTip, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    values = {
        "MODERATION_REPORTING_BANKS": json.dumps([CSAM_BANK]),
        "MODERATION_NCMEC_USERNAME": USERNAME,
        "MODERATION_NCMEC_PASSWORD": PASSWORD,
        "MODERATION_NCMEC_BASE_URL": cybertip.url,
        "MODERATION_NCMEC_REPORTER_EMAIL": "trust-safety@platform.example",
        "MODERATION_NCMEC_REPORTER_FIRST_NAME": "Dana",
        "MODERATION_NCMEC_REPORTER_LAST_NAME": "Reporter",
        "MODERATION_NCMEC_ESP_SERVICE": "Example Platform",
        "MODERATION_NCMEC_TIMEOUT_SECONDS": "10",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def client(reporting_settings: Settings) -> Iterator[TestClient]:
    from moderation.app import create_app

    with TestClient(create_app(reporting_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def placeholder(seed: int) -> bytes:
    """A generated placeholder image (gradients and shapes), never real imagery."""
    return generated_png(seed)


@pytest.fixture
def csam_bank(engine: Engine, client: TestClient) -> Callable[[bytes], int]:
    """Bank a placeholder in the child-safety bank (what a hash list from a hotline would hold)."""

    def _bank(data: bytes) -> int:
        return bank_image(engine, CSAM_BANK, data, action="block")

    return _bank


def upload(client: TestClient, headers: dict[str, str], data: bytes, **metadata: Any) -> dict[str, Any]:
    response = post_check(client, headers, data, metadata or None, filename="x.png", content_type="image/png")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def run_submissions(
    engine: Engine, settings: Settings, *, client_factory: Callable[[Settings], CyberTipClient] | None = None
) -> SubmissionRun:
    return submit_due(
        engine, settings=settings, worker="test-worker", actor=WORKER_ACTOR, client_factory=client_factory
    )


def after_lease(settings: Settings) -> None:
    """Move the clock past a dead worker's lease."""
    set_clock(utc_now() + timedelta(seconds=settings.ncmec_lease_seconds + 1))


def real_client(settings: Settings) -> CyberTipClient:
    return CyberTipClient(endpoint(settings))
