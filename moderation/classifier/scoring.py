"""Turns image embeddings into per-category scores and fired thresholds, as the categories policy says."""

from __future__ import annotations

import torch

from moderation.classifier.model import LoadedModel
from moderation.classifier.results import CategoryScore, ClassifierResult
from moderation.policy.categories import CategoryPolicy, LinearProbeScoring, SoftmaxScoring


class PromptBankError(ValueError):
    """The categories cannot be scored with this model (e.g. a probe of the wrong dimension)."""


class PromptBank:
    """Text prompt embeddings and probe weights for one policy version and one model.

    Built once per policy version (prompts are embedded here, not per request); `score` is then a
    few matrix products per batch.
    """

    def __init__(self, loaded: LoadedModel, policy: CategoryPolicy) -> None:
        self.policy = policy
        self.model_id = loaded.model_id
        prompts: list[str] = []
        index: dict[str, int] = {}
        for category in policy.categories:
            for prompt in category.prompt_list:
                if isinstance(category.scoring, SoftmaxScoring) and prompt not in index:
                    index[prompt] = len(prompts)
                    prompts.append(prompt)
            if category.probe is not None and category.probe.dim != loaded.embed_dim:
                raise PromptBankError(
                    f"{policy.source}: category '{category.id}' probe has {category.probe.dim} weights "
                    f"but model {loaded.model_id} embeds images in {loaded.embed_dim} dimensions"
                )
        self.text = loaded.encode_texts(prompts) if prompts else torch.empty(0, loaded.embed_dim)
        self._columns = {
            c.id: torch.tensor([index[p] for p in c.prompt_list], dtype=torch.long)
            for c in policy.categories
            if isinstance(c.scoring, SoftmaxScoring)
        }
        self._probes = {
            c.id: (torch.tensor(c.probe.weights, dtype=torch.float32), c.probe.bias)
            for c in policy.categories
            if c.probe is not None
        }

    @property
    def policy_version(self) -> str:
        return self.policy.policy_version

    def score(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Scores in [0, 1], shape (batch, number of categories), in policy order."""
        similarities = embeddings @ self.text.T
        columns = []
        for category in self.policy.categories:
            if isinstance(category.scoring, SoftmaxScoring):
                logits = similarities[:, self._columns[category.id]] / category.scoring.temperature
                probabilities = torch.softmax(logits, dim=1)
                columns.append(probabilities[:, : len(category.prompts.positive)].sum(dim=1))
            else:
                assert isinstance(category.scoring, LinearProbeScoring)
                weights, bias = self._probes[category.id]
                columns.append(torch.sigmoid(embeddings @ weights + bias))
        if not columns:
            return torch.empty(embeddings.shape[0], 0)
        return torch.stack(columns, dim=1).clamp(0.0, 1.0)

    def results(self, embeddings: torch.Tensor, with_embeddings: list[bool]) -> list[ClassifierResult]:
        """One `ClassifierResult` per embedding row."""
        scores = self.score(embeddings).tolist()
        out = []
        for row, embedding, keep in zip(scores, embeddings, with_embeddings, strict=True):
            categories = []
            for category, score in zip(self.policy.categories, row, strict=True):
                block = category.thresholds.block
                categories.append(
                    CategoryScore(
                        id=category.id,
                        score=score,
                        review=score >= category.thresholds.review,
                        block=block is not None and score >= block,
                        child_safety=category.child_safety,
                    )
                )
            out.append(
                ClassifierResult(
                    categories=tuple(categories),
                    model=self.model_id,
                    policy_version=self.policy_version,
                    embedding=tuple(embedding.tolist()) if keep else None,
                )
            )
        return out
