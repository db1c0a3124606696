"""Emails of the redress feature, all through the email outbox under deterministic keys: the
appellant's acknowledgement and decision, the claimant's copy of a counter-notice, and alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.email.service import outbox
from moderation.kit.time import utc_now


def send(
    session: Session,
    *,
    key: str,
    kind: str,
    recipients: list[str],
    subject: str,
    template: str,
    settings: Settings,
    **context: Any,
) -> bool:
    """Enqueue one email (text and HTML from `redress_<template>`); False when its key was queued
    before. An empty recipient list means the operators' alert list (MODERATION_ALERT_TO)."""
    values = {
        "subject": subject,
        "out_of_court_url": settings.out_of_court_url,
        "public_url": settings.public_url,
        **context,
    }
    queued = outbox.enqueue(
        session,
        key=key,
        kind=kind,
        recipients=recipients,
        subject=subject,
        text_body=outbox.render(f"redress_{template}.txt", **values),
        html_body=outbox.render(f"redress_{template}.html", **values),
        now=utc_now(),
    )
    return queued is not None
