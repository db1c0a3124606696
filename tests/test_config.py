"""Settings: embedded default and refusal of placeholder secrets outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from moderation.config import Settings
from moderation.exceptions import ConfigurationError


def test_embedded_default_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'moderation.db').resolve()}"
    assert settings.is_sqlite


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises((ConfigurationError, ValidationError), match="MODERATION_SECRET_KEY"):
        Settings(env="production", _env_file=None)  # type: ignore[call-arg]


def test_production_accepts_real_secrets() -> None:
    settings = Settings(
        env="production",
        secret_key="s" * 32,
        action_webhook_secret="w" * 32,
        _env_file=None,  # type: ignore[call-arg]
    )
    assert settings.env == "production"


def test_alert_recipients_parse_comma_list() -> None:
    settings = Settings(alert_to=" a@x.test, ,b@x.test ", _env_file=None)  # type: ignore[call-arg]
    assert settings.alert_recipients == ["a@x.test", "b@x.test"]


def test_production_refuses_a_short_audit_key() -> None:
    secrets = {"secret_key": "s" * 32, "action_webhook_secret": "w" * 32}
    with pytest.raises(ConfigurationError, match="AUDIT_KEY"):
        Settings(env="production", audit_key="short", _env_file=None, **secrets)  # type: ignore[call-arg]
    keyed = Settings(env="production", audit_key="k" * 32, _env_file=None, **secrets)  # type: ignore[call-arg]
    assert keyed.audit_mac_key == b"k" * 32 and not keyed.api_schema_served
