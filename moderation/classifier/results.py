"""What the classifier says about an image: plain frozen data, no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CategoryScore:
    """One category's score for one image and which of its thresholds fired."""

    id: str
    score: float
    review: bool
    block: bool
    child_safety: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "review": self.review,
            "block": self.block,
            "child_safety": self.child_safety,
        }


@dataclass(frozen=True)
class ClassifierResult:
    """The classifier's verdict on one image: every category's score, the fired thresholds, the model
    and the policy version they came from, and optionally the image embedding."""

    categories: tuple[CategoryScore, ...]
    model: str
    policy_version: str
    embedding: tuple[float, ...] | None = None

    @property
    def scores(self) -> dict[str, float]:
        return {c.id: c.score for c in self.categories}

    @property
    def review(self) -> tuple[str, ...]:
        """Ids of categories whose review threshold fired."""
        return tuple(c.id for c in self.categories if c.review)

    @property
    def block(self) -> tuple[str, ...]:
        """Ids of categories whose block threshold fired."""
        return tuple(c.id for c in self.categories if c.block)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "policy_version": self.policy_version,
            "scores": self.scores,
            "review": list(self.review),
            "block": list(self.block),
            "categories": [c.to_dict() for c in self.categories],
        }
        if self.embedding is not None:
            body["embedding"] = list(self.embedding)
        return body
