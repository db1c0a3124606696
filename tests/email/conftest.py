"""Email test fixtures: a real SMTP server on loopback and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation.config import Settings, get_settings
from tests.email.smtp_server import SMTPServer


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (and MODERATION_* env for subprocesses) that send to the test SMTP server."""
    values = {
        "MODERATION_SMTP_HOST": "127.0.0.1",
        "MODERATION_SMTP_PORT": str(smtp_server.port),
        "MODERATION_SMTP_TIMEOUT_SECONDS": "5",
        "MODERATION_ALERT_FROM": "alerts@moderation.test",
        "MODERATION_ALERT_TO": "oncall@example.test",
        "MODERATION_PUBLIC_URL": "https://moderation.example.test",
        "MODERATION_TEAM_TIMEZONE": "Europe/London",
        "MODERATION_ALERT_ROUTES": '{"ncii": ["ncii@example.test"], "legal-oncall": ["legal@example.test"]}',
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return get_settings()
