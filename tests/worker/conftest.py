"""Worker test fixtures: shared with the alert tests."""

from __future__ import annotations

from tests.alerts.conftest import mail_settings, make_notice, smtp_server

__all__ = ["mail_settings", "make_notice", "smtp_server"]
