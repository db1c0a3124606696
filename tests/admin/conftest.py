"""Dashboard test helpers: users of each role and a signed-in TestClient."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD

__all__ = ["PASSWORD", "form_token", "sign_in"]


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def signed_in(app_client: TestClient, make_user: Callable[..., str]) -> Callable[[str], TestClient]:
    """`signed_in("reviewer")` -> the app client signed in as a new user of that role."""

    def _sign_in(role: str) -> TestClient:
        return sign_in(app_client, make_user(role))

    return _sign_in


# --- factories: notices, review items, banks (through the features' services) -----------------


def generated_png(seed: int = 1, size: int = 128) -> bytes:
    """A synthetic image: smooth noise with ellipses (no people, nothing harmful)."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(image)
    for _ in range(5):
        x, y = (int(v) for v in rng.integers(0, size - 30, 2))
        draw.ellipse((x, y, x + 30, y + 20), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


TID_FIELDS = {"signature": "/s/ A. Person", "non_consent_statement": "I did not consent to this."}


@pytest.fixture
def make_notice(engine: Any, settings: Any) -> Callable[..., int]:
    """Submit a notice through the takedown service (committed); returns its id."""
    from moderation.db import session_factory
    from moderation.takedown.schemas import NoticeCreate
    from moderation.takedown.service import takedown

    def _make(**overrides: Any) -> int:
        body: dict[str, Any] = {
            "regimes": ["us-take-it-down"],
            "channel": "form",
            "reporter": {"name": "A. Person", "email": "person@example.org"},
            "content": {"content_ids": ["c-1"]},
            "fields": dict(TID_FIELDS),
        }
        body.update(overrides)
        with session_factory(engine)() as session:
            notice, _ = takedown.submit(
                session, NoticeCreate.model_validate(body), actor="apikey:intake", settings=settings
            )
            session.commit()
            return int(notice.id)

    return _make


@pytest.fixture
def make_review_item(engine: Any, settings: Any) -> Callable[..., int]:
    """Run a generated image through the check pipeline (no classifier: generated -> review);
    returns the check id."""
    from moderation.checks.schemas import CheckMetadata
    from moderation.checks.service import CheckContext, CheckInput, checks
    from moderation.db import session_factory
    from moderation.hashing.intake import ImageLimits
    from moderation.policy import get_policy

    def _make(seed: int = 1, prompt: str = "a watercolour of a lighthouse", data: bytes | None = None) -> int:
        context = CheckContext(
            matcher=NothingMatches(),
            classifier=None,
            limits=ImageLimits.from_settings(settings),
            settings=settings,
        )
        with session_factory(engine)() as session:
            result = checks.check_sync(
                session,
                CheckInput(
                    data=data or generated_png(seed),
                    metadata=CheckMetadata(source="generated", prompt=prompt, content_id=f"gen-{seed}"),
                ),
                policy=get_policy(settings.policies_dir),
                context=context,
                actor="apikey:checker",
            )
            session.commit()
            assert result.decision == "review", result
            return result.check_id

    return _make


@pytest.fixture
def make_bank(engine: Any) -> Callable[..., str]:
    from moderation.banks.service import banks
    from moderation.db import session_factory

    def _make(name: str = "known-bad", action: str = "block") -> str:
        with session_factory(engine)() as session:
            banks.create(session, name=name, action=action, actor="test")
            session.commit()
        return name

    return _make


class NothingMatches:
    """A matcher over empty banks: the review items these tests need come from the classifier rules."""

    def match(self, hashes: Any) -> list[Any]:
        return []

    def holds(self, hash_type: str) -> bool:
        return False

    def match_video(self, video: Any) -> list[Any]:
        return []
