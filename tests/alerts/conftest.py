"""Alert test fixtures: the loopback SMTP server and a notice factory going through takedown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import transaction
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from tests.email.conftest import mail_settings, smtp_server

__all__ = ["mail_settings", "make_notice", "smtp_server"]

REPORTER = {"name": "Reporter Person", "email": "reporter.person@example.org"}


def make_notice(engine: Engine, settings: Settings, *, received_at: datetime, **overrides: Any) -> int:
    """A notice under the UK 48-hour regime received at `received_at` (the clock must be at or after it)."""
    body: dict[str, Any] = {
        "regimes": ["uk-osa-intimate-image"],
        "channel": "form",
        "received_at": received_at.isoformat(),
        "reporter": REPORTER,
        "content": {"content_ids": ["c-1"]},
        "fields": {
            "intimate_image_declaration": True,
            "subject_declaration": True,
            "good_faith_declaration": True,
        },
    }
    body.update(overrides)
    with transaction(engine) as session:
        notice, _ = takedown.submit(
            session, NoticeCreate.model_validate(body), actor="test", settings=settings
        )
        return notice.id
