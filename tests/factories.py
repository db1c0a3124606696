"""Factories shared by the tests of several features: generated images (shapes, gradients, noise;
never people), hash values, the check API call, notices and real bank entries."""

from __future__ import annotations

import io
import json
import random
from datetime import datetime
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import Engine

from benchmarks.evaluation import encode as encode_as
from benchmarks.evaluation import generate_image
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.db import session_factory, transaction
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.hashing.types import PDQ
from moderation.matching.service import matcher
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown


def picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A deterministic picture of coloured shapes over a smooth gradient with some noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            (x * rng.uniform(0.1, 0.4) + y * rng.uniform(0.0, 0.3)) % 256,
            (y * rng.uniform(0.1, 0.4)) % 256,
            np.full_like(x, rng.integers(0, 256)),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 8, size=(height, width, 3))
    image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        x1, y1 = x0 + int(rng.integers(30, width // 2)), y0 + int(rng.integers(30, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} | kwargs if fmt == "JPEG" else kwargs))
    return buffer.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    return encode(picture(seed, size), quality=quality)


def generated_png(seed: int = 1, size: int = 256) -> bytes:
    """A synthetic test image: smooth noise with shapes (no people, nothing harmful)."""
    rng = np.random.default_rng(seed)
    field_ = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(field_).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, size - 40, 2))
        draw.ellipse((x, y, x + 40, y + 30), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def near_duplicate(seed: int, *, low: int, high: int) -> tuple[bytes, int]:
    """An edited copy of `jpeg(seed)` whose PDQ distance from it lies in [low, high]: grey bars are
    painted over the picture one at a time until the distance reaches `low`. Returns (JPEG, distance)."""
    original = hash_image_bytes(jpeg(seed), ImageLimits()).pdq
    image = picture(seed)
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(seed + 1000)
    for _ in range(200):
        x0, y0 = int(rng.integers(0, 620)), int(rng.integers(0, 460))
        draw.rectangle((x0, y0, x0 + 16, y0 + 16), fill=(128, 128, 128))
        data = encode(image)
        distance = PDQ.distance(original, hash_image_bytes(data, ImageLimits()).pdq)
        if distance >= low:
            assert distance <= high, f"overshot: distance {distance} for seed {seed}"
            return data, distance
    raise AssertionError(f"no edit of picture {seed} reached PDQ distance {low}")


def post_check(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    metadata: dict[str, Any] | str | None = None,
    *,
    filename: str = "image.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    form = {}
    if metadata is not None:
        form["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return client.post(
        "/v1/check", headers=headers, files={"file": (filename, data, content_type)}, data=form
    )


def bank_image(engine: Engine, bank: str, data: bytes, *, action: str = "block") -> int:
    """Add an image to a real bank (created on first use) and bring the process's matcher up to date;
    returns the entry id."""
    with session_factory(engine)() as session:
        if bank not in {b.name for b in banks.all(session)}:
            banks.create(session, name=bank, action=action, actor="test")
        entries = banks.add_image(session, bank, data, actor="test")
        session.commit()
    matcher.refresh()
    return entries[0].id


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(value: str, bits: int, rng: random.Random, width: int = 256) -> str:
    """`value` with exactly `bits` distinct bits flipped."""
    number = int(value, 16)
    for position in rng.sample(range(width), bits):
        number ^= 1 << position
    return f"{number:0{width // 4}x}"


def image_bytes(seed: int, quality: int = 92) -> bytes:
    """A generated photo-like JPEG (shapes, gradients, texture, text; no people)."""
    return encode_as(generate_image(seed), "JPEG", quality)


# The address is given as free-text contact, not `email`: no reporter notice is emailed, so tests of
# alert emails count only alerts (and still check that the reporter's details never leak into them).
REPORTER = {"name": "Reporter Person", "contact": "reporter.person@example.org"}


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
