"""What the classifier says about an image: plain frozen data, no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """A model that scored categories: its id (`open_nsfw`, `open_clip`), version and file checksum."""

    id: str
    version: str
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class CategoryScore:
    """One category's score for one image, the model that produced it, and which thresholds fired."""

    id: str
    score: float
    review: bool
    block: bool
    child_safety: bool = False
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "review": self.review,
            "block": self.block,
            "child_safety": self.child_safety,
            "model": self.model,
        }


@dataclass(frozen=True)
class Unscored:
    """A category no available model could score, and why (the decision policy says what it means)."""

    id: str
    reason: str
    child_safety: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "child_safety": self.child_safety}


@dataclass(frozen=True)
class ClassifierResult:
    """The classifier's verdict on one image: every scored category's score and fired thresholds, the
    categories left unscored, the models and the policy version they came from, and optionally the
    image embedding."""

    categories: tuple[CategoryScore, ...]
    model: str
    policy_version: str
    embedding: tuple[float, ...] | None = None
    unscored: tuple[Unscored, ...] = ()
    models: tuple[ModelInfo, ...] = ()

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

    @property
    def unscored_ids(self) -> tuple[str, ...]:
        return tuple(u.id for u in self.unscored)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "models": [m.to_dict() for m in self.models],
            "policy_version": self.policy_version,
            "scores": self.scores,
            "review": list(self.review),
            "block": list(self.block),
            "categories": [c.to_dict() for c in self.categories],
            "unscored": [u.to_dict() for u in self.unscored],
        }
        if self.embedding is not None:
            body["embedding"] = list(self.embedding)
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> ClassifierResult:
        """The inverse of `to_dict` (a stored check's classifier body; the embedding is not kept)."""
        return cls(
            categories=tuple(
                CategoryScore(
                    id=c["id"],
                    score=float(c["score"]),
                    review=bool(c["review"]),
                    block=bool(c["block"]),
                    child_safety=bool(c.get("child_safety", False)),
                    model=c.get("model"),
                )
                for c in body.get("categories", [])
            ),
            model=str(body.get("model", "")),
            policy_version=str(body.get("policy_version", "")),
            unscored=tuple(
                Unscored(
                    id=u["id"], reason=str(u.get("reason", "")), child_safety=bool(u.get("child_safety"))
                )
                for u in body.get("unscored", [])
            ),
            models=tuple(
                ModelInfo(id=m["id"], version=str(m.get("version", "")), sha256=m.get("sha256"))
                for m in body.get("models", [])
            ),
        )
