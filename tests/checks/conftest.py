"""Fixtures for the check pipeline: the app client (real banks and matcher) and a fake classifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from moderation.classifier.results import CategoryScore, ClassifierResult


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
def client(app_client: TestClient) -> Iterator[TestClient]:
    """The app with its real bank matcher (add entries with `tests.factories.bank_image`) and no
    classifier (disabled)."""
    yield app_client


def with_classifier(client: TestClient, classifier: FakeClassifier | None) -> None:
    app: Any = client.app
    app.state.check_context.classifier = classifier
