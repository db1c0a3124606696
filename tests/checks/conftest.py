"""Fixtures for the check pipeline: generated images, a fake bank matcher and a fake classifier."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from moderation.checks.ports import SimpleMatch
from moderation.classifier.results import CategoryScore, ClassifierResult
from moderation.hashing.hashers import ImageHashes, hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.hashing.types import PDQ


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


@dataclass
class FakeBanks:
    """A matcher over a few hashes with the real PDQ distance (stands in for the banks feature)."""

    entries: list[tuple[str, int, str, str, int]] = field(
        default_factory=list
    )  # bank, id, action, pdq, threshold

    def add(self, bank: str, data: bytes, action: str = "block", threshold: int = 31) -> int:
        hashes = hash_image_bytes(data, ImageLimits())
        entry_id = len(self.entries) + 1
        self.entries.append((bank, entry_id, action, hashes.pdq, threshold))
        return entry_id

    def match(self, hashes: ImageHashes) -> Sequence[SimpleMatch]:
        out = []
        for bank, entry_id, action, pdq, threshold in self.entries:
            distance = PDQ.distance(pdq, hashes.pdq)
            if distance <= threshold:
                out.append(SimpleMatch(bank, entry_id, "pdq", distance, threshold, action, variant="plain"))
        return out


class FakeClassifier:
    """An `ImageClassifier` whose scores are set by the test; counts the images it classified."""

    def __init__(self, scores: dict[str, float] | None = None, state: str = "ready") -> None:
        self.scores = scores or {}
        self.state = state
        self.calls = 0
        self.thresholds = {"sexual": (0.97, None), "minor_present": (0.3, 0.6), "violence_gore": (0.5, 0.9)}

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": None if self.state == "ready" else "test says so",
            "required": False,
        }

    def _result(self) -> ClassifierResult:
        categories = []
        for name, (review, block) in self.thresholds.items():
            score = self.scores.get(name, 0.01)
            categories.append(
                CategoryScore(
                    id=name,
                    score=score,
                    review=score >= review,
                    block=block is not None and score >= block,
                    child_safety=name == "minor_present",
                )
            )
        return ClassifierResult(categories=tuple(categories), model="fake", policy_version="test")

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        return self.classify_sync(images)

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        from moderation.classifier.interface import ClassifierUnavailable

        if self.state != "ready":
            raise ClassifierUnavailable("not ready", details={"state": self.state})
        self.calls += len(images)
        return [self._result() for _ in images]


@pytest.fixture
def fake_banks() -> FakeBanks:
    return FakeBanks()


@pytest.fixture
def client(app_client: TestClient, fake_banks: FakeBanks) -> Iterator[TestClient]:
    """The app with the fake bank matcher and no classifier (disabled)."""
    app: Any = app_client.app
    app.state.check_context.matcher = fake_banks
    yield app_client


def with_classifier(client: TestClient, classifier: FakeClassifier | None) -> None:
    app: Any = client.app
    app.state.check_context.classifier = classifier


def post_check(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    metadata: dict[str, Any] | str | None = None,
    *,
    filename: str = "image.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    import json

    form = {}
    if metadata is not None:
        form["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return client.post(
        "/v1/check", headers=headers, files={"file": (filename, data, content_type)}, data=form
    )
