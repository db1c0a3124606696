"""The classifier the service uses: every configured model behind one `ImageClassifier`, scoring each
category with the first of its models (classifier.yaml `models`) that is ready, the others unscored."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from PIL import Image

from moderation.classifier.interface import ClassifierFailed, ClassifierState, ClassifierUnavailable
from moderation.classifier.results import CategoryScore, ClassifierResult, ModelInfo, Unscored
from moderation.policy.categories import CategoryPolicy


class ModelRuntime(Protocol):
    """One model's runtime (`ExplicitRuntime`, `ClassifierRuntime`): an `ImageClassifier` that also
    says which model it loaded and takes the categories it scores."""

    def start(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    @property
    def info(self) -> ModelInfo | None: ...

    def set_categories(self, categories: CategoryPolicy) -> None: ...

    def wait_settled(self, timeout: float | None = None) -> dict[str, Any]: ...

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]: ...

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]: ...

    def close(self) -> None: ...


_MODEL_ERRORS = (ClassifierUnavailable, ClassifierFailed)


class CombinedClassifier:
    """Per-category availability over several models (implements `ImageClassifier`).

    Lifecycle: `CombinedClassifier(categories, runtimes, missing)` takes the model runtimes keyed by
    model id (`open_nsfw`, `open_clip`), each already given the categories it can score, and the
    reasons of models that were not configured at all. `start()` starts every runtime (each loads on
    its own thread). `status()` is `ready` as soon as one model is ready, with each model's own status
    and the model each category is scored by now. `classify()` runs the ready models side by side
    (each batches concurrent callers) and merges their results: a category is scored by the first of
    its `models` that produced a score, with that model's thresholds, else recorded as unscored with
    the reason. With no model ready it raises `ClassifierUnavailable` (the decision policy's
    `on_classifier_unavailable` applies); a model failing mid-request leaves its categories unscored.
    `close()` closes every runtime.
    """

    def __init__(
        self,
        categories: CategoryPolicy,
        runtimes: dict[str, ModelRuntime],
        missing: dict[str, str] | None = None,
    ) -> None:
        self._categories = categories
        self.runtimes = runtimes
        self._missing = dict(missing or {})

    def start(self) -> None:
        """Start loading every model in the background; returns at once."""
        for runtime in self.runtimes.values():
            runtime.start()

    def wait_settled(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until every model has finished loading one way or the other (each up to `timeout`)."""
        for runtime in self.runtimes.values():
            runtime.wait_settled(timeout)
        return self.status()

    def close(self) -> None:
        """Close every model runtime."""
        for runtime in self.runtimes.values():
            runtime.close()

    @property
    def categories(self) -> CategoryPolicy:
        return self._categories

    def set_categories(self, categories: CategoryPolicy) -> None:
        """Use a new categories policy from the next batch on (each model gets its share)."""
        for model_id, runtime in self.runtimes.items():
            runtime.set_categories(categories.for_model(model_id))
        self._categories = categories

    def _states(self) -> dict[str, dict[str, Any]]:
        states = {model_id: runtime.status() for model_id, runtime in self.runtimes.items()}
        for model_id, reason in self._missing.items():
            states[model_id] = {
                "state": ClassifierState.UNAVAILABLE.value,
                "reason": reason,
                "model": model_id,
            }
        return states

    def _reason(self, model_id: str, states: dict[str, dict[str, Any]]) -> str:
        status = states.get(model_id)
        if status is None:
            return f"{model_id}: not configured"
        state = status.get("state", "unavailable")
        return f"{model_id}: {state}" + (f" ({status['reason']})" if status.get("reason") else "")

    def status(self) -> dict[str, Any]:
        """Overall state (`ready` when any model is), each model's status, and per category the model
        scoring it now (null: unscored). `required` is false: the service runs without a classifier."""
        states = self._states()
        ready = {m for m, s in states.items() if s.get("state") == ClassifierState.READY.value}
        loading = any(s.get("state") == ClassifierState.LOADING.value for s in states.values())
        if ready:
            state, reason = ClassifierState.READY, None
        elif loading:
            state, reason = ClassifierState.LOADING, "the models are still loading"
        else:
            state = ClassifierState.UNAVAILABLE
            reason = "; ".join(self._reason(m, states) for m in sorted(states)) or "no model configured"
        categories = {}
        for category in self._categories.categories:
            chosen = next((m for m in category.model_ids if m in ready), None)
            categories[category.id] = {
                "model": chosen,
                "models": list(category.model_ids),
                "reason": None if chosen else "; ".join(self._reason(m, states) for m in category.model_ids),
            }
        return {
            "state": state.value,
            "reason": reason,
            "model": "+".join(sorted(ready)) or None,
            "models": states,
            "categories": categories,
            "policy_version": self._categories.policy_version,
            "required": False,
        }

    def _ready(self) -> dict[str, ModelRuntime]:
        ready = {
            model_id: runtime
            for model_id, runtime in self.runtimes.items()
            if runtime.status().get("state") == ClassifierState.READY.value
        }
        if not ready:
            status = self.status()
            raise ClassifierUnavailable(
                f"the classifier is {status['state']}: {status['reason']}",
                details={"state": status["state"], "reason": status["reason"]},
            )
        return ready

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Score each image with every ready model at once; one merged result per image, in order.
        Per-image errors (`EmptyImage`, `CorruptImage`) propagate; a model error only unscores."""
        ready = self._ready()
        outputs = await asyncio.gather(
            *(runtime.classify(images, with_embeddings=with_embeddings) for runtime in ready.values()),
            return_exceptions=True,
        )
        return self._merge(len(images), dict(zip(ready, outputs, strict=True)))

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        """Blocking `classify` for the CLI and scripts (the models run one after the other)."""
        outputs: dict[str, list[ClassifierResult] | BaseException] = {}
        for model_id, runtime in self._ready().items():
            try:
                outputs[model_id] = runtime.classify_sync(images, with_embeddings=with_embeddings)
            except _MODEL_ERRORS as exc:
                outputs[model_id] = exc
        return self._merge(len(images), outputs)

    def _merge(
        self, count: int, outputs: dict[str, list[ClassifierResult] | BaseException]
    ) -> list[ClassifierResult]:
        failures: dict[str, str] = {}
        results: dict[str, list[ClassifierResult]] = {}
        for model_id, output in outputs.items():
            if isinstance(output, _MODEL_ERRORS):
                failures[model_id] = f"{model_id}: {output.code} ({output.message})"
            elif isinstance(output, BaseException):
                raise output  # a per-image error (or a bug): the caller reports it
            else:
                results[model_id] = output
        if not results:
            first = next(iter(outputs.values()))
            assert isinstance(first, BaseException)
            raise first
        states = self._states()
        policy = self._categories
        merged: list[ClassifierResult] = []
        for index in range(count):
            scored: list[CategoryScore] = []
            unscored: list[Unscored] = []
            used: dict[str, ModelInfo] = {}
            embedding = None
            for per_image in results.values():
                embedding = embedding or per_image[index].embedding
            for category in policy.categories:
                score = None
                for model_id in category.model_ids:
                    found = results.get(model_id)
                    if found is None:
                        continue
                    score = found[index].scores.get(category.id)
                    if score is not None:
                        thresholds = category.thresholds_for(model_id)
                        scored.append(
                            CategoryScore(
                                id=category.id,
                                score=score,
                                review=score >= thresholds.review,
                                block=thresholds.block is not None and score >= thresholds.block,
                                child_safety=category.child_safety,
                                model=model_id,
                            )
                        )
                        used[model_id] = self.runtimes[model_id].info or ModelInfo(
                            id=model_id, version=found[index].model
                        )
                        break
                if score is None:
                    reason = "; ".join(failures.get(m) or self._reason(m, states) for m in category.model_ids)
                    unscored.append(
                        Unscored(id=category.id, reason=reason, child_safety=category.child_safety)
                    )
            merged.append(
                ClassifierResult(
                    categories=tuple(scored),
                    model="+".join(sorted(used)),
                    policy_version=policy.policy_version,
                    embedding=embedding,
                    unscored=tuple(unscored),
                    models=tuple(used[m] for m in sorted(used)),
                )
            )
        return merged
