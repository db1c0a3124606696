"""The interface the rest of the service uses to classify images (a runtime in production, fakes in tests)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from moderation.classifier.results import ClassifierResult
from moderation.exceptions import ModerationError


class ClassifierState(StrEnum):
    DISABLED = "disabled"  # MODERATION_CLASSIFIER_ENABLED=false: never loads, never classifies
    LOADING = "loading"  # the model is loading on its background thread
    READY = "ready"
    UNAVAILABLE = "unavailable"  # not started, failed to load (see `reason`), or closed


class ClassifierUnavailable(ModerationError):
    """Classification was asked for while the classifier is not ready; `details` has state and reason.
    Callers follow the decision policy's `on_classifier_unavailable` fallback."""

    code = "classifier_unavailable"
    status = 503


class ClassifierFailed(ModerationError):
    """The model raised during inference (a bug or resource exhaustion, not bad input)."""

    code = "classifier_failed"
    status = 500


@runtime_checkable
class ImageClassifier(Protocol):
    """An image classifier scoring the policy categories.

    Lifecycle: construct (cheap, loads nothing) -> `start()` begins loading in the background and
    returns at once -> `status()` moves from `loading` to `ready` or `unavailable` (with a reason) ->
    `classify()` / `classify_sync()` while ready (otherwise they raise `ClassifierUnavailable`) ->
    `close()` at shutdown. With the classifier disabled, `status()` says `disabled` throughout.
    """

    def start(self) -> None:
        """Begin loading the model off the caller's thread; idempotent."""

    def status(self) -> dict[str, Any]:
        """State (`disabled`/`loading`/`ready`/`unavailable`), reason, model id, load seconds."""
        ...

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Score each image (batched with concurrent callers); one result per image, in order."""
        ...

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Blocking variant for the CLI and scripts; never call it on an event loop thread."""
        ...

    def close(self) -> None:
        """Stop accepting work and release the worker thread."""
