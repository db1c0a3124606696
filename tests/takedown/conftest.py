"""Takedown test helpers: notice factories, a fake stay-down port, generated images."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from moderation.takedown.staydown import Banked, Copy, RegisteredHashes

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

COMPLETE_TID = {
    "signature": "/s/ A. Person",
    "non_consent_statement": "I did not consent to this image being shared.",
}


def notice_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "regimes": ["us-take-it-down"],
        "channel": "form",
        "reporter": {"name": "A. Person", "email": "person@example.org"},
        "content": {"content_ids": ["c-1"]},
        "fields": dict(COMPLETE_TID),
    }
    body.update(overrides)
    return body


def submit(session: Session, settings: Settings, actor: str = "apikey:intake", **overrides: Any) -> Any:
    notice, _ = takedown.submit(
        session, NoticeCreate.model_validate(notice_body(**overrides)), actor=actor, settings=settings
    )
    return notice


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class FakeStayDown:
    """Records what takedown asks of banks, hashing and the registry; answers from `registry`."""

    registry: dict[str, RegisteredHashes] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    banked: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    disabled: list[int] = field(default_factory=list)

    def hash_upload(self, data: bytes, settings: Settings) -> dict[str, Any]:
        from moderation.hashing.hashers import hash_image_bytes
        from moderation.hashing.intake import ImageLimits

        return hash_image_bytes(data, ImageLimits.from_settings(settings)).as_dict()

    def registered(self, session: Session, content_id: str) -> list[RegisteredHashes]:
        found = self.registry.get(content_id)
        return [found] if found else []

    def add_hashes(
        self,
        session: Session,
        hashes: list[tuple[str, str]],
        *,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> Banked:
        first = len(self.banked) + 1
        self.banked.extend(hashes)
        return Banked(list(range(first, len(self.banked) + 1)), len(hashes))

    def add_image(
        self, session: Session, data: bytes, *, note: str, metadata: dict[str, Any], actor: str
    ) -> Banked:
        self.banked.append(("image", hashlib.sha256(data).hexdigest()))
        return Banked([len(self.banked)], 1)

    def find_copies(
        self, session: Session, *, sha256: str | None, pdq: str | None, threshold: int
    ) -> list[Copy]:
        # Like the real registry: identical copies by SHA-256, near ones within `threshold` only.
        return [
            c
            for c in self.copies
            if (c.identical and c.sha256 == sha256) or (not c.identical and c.distance <= threshold)
        ]

    def mark_removed(self, session: Session, content_id: str, *, notice_id: int, actor: str) -> None:
        self.removed.append(content_id)

    def disable_entries(self, session: Session, entry_ids: list[int], *, actor: str) -> list[int]:
        self.disabled.extend(entry_ids)
        return list(entry_ids)


@pytest.fixture
def fake_stay_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStayDown]:
    fake = FakeStayDown()
    monkeypatch.setattr(takedown, "stay_down", fake)
    yield fake
