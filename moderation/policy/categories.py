"""Policy part `categories`: the classifier's categories, prompts, scoring and thresholds (classifier.yaml).

A category's score is a number in [0, 1]. `softmax` scoring compares the image embedding with the
category's positive and negative text prompts (cosine similarity divided by `temperature`, softmax over
all prompts) and sums the probability of the positive prompts. `linear_probe` scoring applies a logistic
regression (`weights`, `bias`) stored in a file under `policies/` to the normalised image embedding; the
file's SHA-256 is pinned in the YAML so that changing the probe changes the policy version.

A threshold fires when the score reaches it. `block` may be null: the category is then review-only.

`models` lists the models that can score a category, preferred first: `open_nsfw` (the bundled
explicit-content model; its score is the model's NSFW probability) and `open_clip` (zero-shot prompts or
a probe, as `scoring` says). The first listed model that is ready scores the category, with its own
`thresholds` when the entry gives some, else the category's; when none is ready the category is
*unscored* and the decision policy says what that means.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from moderation.exceptions import PolicyError
from moderation.policy.loader import policy_version, read_yaml, register_part

FILENAME = "classifier.yaml"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Prompt = Annotated[str, Field(min_length=1, max_length=300)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Prompts(_Frozen):
    positive: tuple[Prompt, ...] = ()
    negative: tuple[Prompt, ...] = ()


class Thresholds(_Frozen):
    review: Probability
    block: Probability | None = None

    @model_validator(mode="after")
    def _review_not_above_block(self) -> Thresholds:
        if self.block is not None and self.review > self.block:
            raise ValueError(f"review ({self.review}) must be <= block ({self.block})")
        return self


class SoftmaxScoring(_Frozen):
    method: Literal["softmax"]
    temperature: Annotated[float, Field(gt=0.0, le=10.0)] = 0.01


class LinearProbeScoring(_Frozen):
    method: Literal["linear_probe"]
    # Path relative to the policies directory: a JSON {"weights": [...], "bias": x} or an .npz with both.
    probe: Annotated[str, Field(min_length=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


ModelId = Literal["open_nsfw", "open_clip"]
MODEL_IDS: tuple[str, ...] = ("open_nsfw", "open_clip")


class ModelChoice(_Frozen):
    """A model that can score a category; `thresholds` replace the category's for this model's scores."""

    model: ModelId
    thresholds: Thresholds | None = None


class Probe(_Frozen):
    """Logistic regression over the L2-normalised image embedding: sigmoid(weights · e + bias)."""

    weights: tuple[float, ...]
    bias: float

    @property
    def dim(self) -> int:
        return len(self.weights)


class Category(_Frozen):
    """One policy category. `child_safety` marks categories about minors, which later stages treat
    specially (e.g. never auto-approve, combine with `sexual`)."""

    id: str
    description: Annotated[str, Field(min_length=1)]
    prompts: Prompts = Prompts()
    models: Annotated[tuple[ModelChoice, ...], Field(min_length=1)] = (ModelChoice(model="open_clip"),)
    # How open_clip scores the category; required when `models` lists open_clip.
    scoring: Annotated[SoftmaxScoring | LinearProbeScoring, Field(discriminator="method")] | None = None
    thresholds: Thresholds
    child_safety: bool = False
    probe: Probe | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(
                "must be lower_snake_case (a-z, 0-9, _), starting with a letter, at most 64 chars"
            )
        return value

    @model_validator(mode="after")
    def _models_and_scoring(self) -> Category:
        names = [m.model for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"models lists a model twice: {', '.join(names)}")
        if "open_clip" in names and self.scoring is None:
            raise ValueError("open_clip needs `scoring` (softmax prompts or a linear probe)")
        return self

    def thresholds_for(self, model: str) -> Thresholds:
        """The thresholds `model`'s scores are compared with."""
        for choice in self.models:
            if choice.model == model and choice.thresholds is not None:
                return choice.thresholds
        return self.thresholds

    @property
    def model_ids(self) -> tuple[str, ...]:
        """The models that can score this category, preferred first."""
        return tuple(m.model for m in self.models)

    @model_validator(mode="after")
    def _prompts_for_softmax(self) -> Category:
        if isinstance(self.scoring, SoftmaxScoring):
            if not self.prompts.positive:
                raise ValueError("softmax scoring needs at least one prompt in prompts.positive")
            if not self.prompts.negative:
                raise ValueError("softmax scoring needs at least one prompt in prompts.negative")
        return self

    @property
    def prompt_list(self) -> tuple[str, ...]:
        """Positive prompts first, then negative ones (the order the classifier embeds them in)."""
        return self.prompts.positive + self.prompts.negative


class CategoryPolicy(_Frozen):
    """Every classifier category, in file order, with the version of the policy they came from."""

    categories: tuple[Category, ...]
    policy_version: str = ""
    source: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def get(self, category_id: str) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)

    @property
    def child_safety_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if c.child_safety)

    def for_model(self, model: str) -> CategoryPolicy:
        """The categories `model` can score (same version and source)."""
        return self.model_copy(
            update={"categories": tuple(c for c in self.categories if model in c.model_ids)}
        )

    def uses(self, model: str) -> bool:
        return any(model in c.model_ids for c in self.categories)


def category_thresholds(category: Category) -> dict[str | None, tuple[float, float | None]]:
    """(review, block) per scoring model, and under None the category's own."""
    out: dict[str | None, tuple[float, float | None]] = {
        None: (category.thresholds.review, category.thresholds.block)
    }
    for model in category.model_ids:
        chosen = category.thresholds_for(model)
        out[model] = (chosen.review, chosen.block)
    return out


class _File(_Frozen):
    categories: tuple[dict[str, Any], ...]


def _loc(loc: tuple[int | str, ...], raw: Any) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"softmax", "linear_probe"} and out.endswith("scoring"):
            continue  # pydantic adds the discriminator value to the location; the YAML has no such key
        else:
            out += f".{part}" if out else str(part)
    if len(loc) >= 2 and loc[0] == "categories" and isinstance(loc[1], int):
        try:
            category_id = raw["categories"][loc[1]]["id"]
        except (KeyError, IndexError, TypeError):
            category_id = None
        if isinstance(category_id, str):
            out += f" (category '{category_id}')"
    return out or "(top level)"


def _first_error(
    path: Path, exc: ValidationError, raw: Any, prefix: tuple[int | str, ...] = ()
) -> PolicyError:
    err = exc.errors()[0]
    where = _loc(prefix + tuple(err["loc"]), raw)
    message = err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return PolicyError(f"{path}: {where}: {message}{more}")


def _read_probe(policies_dir: Path, path: Path, index: int, category: Category) -> Probe:
    assert isinstance(category.scoring, LinearProbeScoring)
    field = f"categories[{index}].scoring.probe (category '{category.id}')"
    probe_path = (policies_dir / category.scoring.probe).resolve()
    if not probe_path.is_relative_to(policies_dir.resolve()):
        raise PolicyError(f"{path}: {field}: probe file must be inside {policies_dir}")
    if not probe_path.is_file():
        raise PolicyError(f"{path}: {field}: probe file {probe_path} does not exist")
    data = probe_path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != category.scoring.sha256:
        raise PolicyError(
            f"{path}: categories[{index}].scoring.sha256 (category '{category.id}'): "
            f"{probe_path.name} has SHA-256 {actual}, the policy pins {category.scoring.sha256}"
        )
    try:
        if probe_path.suffix == ".json":
            body = json.loads(data)
            weights, bias = body["weights"], body["bias"]
        elif probe_path.suffix == ".npz":
            with np.load(probe_path, allow_pickle=False) as arrays:
                weights, bias = arrays["weights"].tolist(), float(arrays["bias"])
        else:
            raise PolicyError(f"{path}: {field}: probe file must be .json or .npz, not {probe_path.suffix!r}")
        vector = np.asarray(weights, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError("weights must be a non-empty flat list of numbers")
        bias = float(bias)
        if not (np.isfinite(vector).all() and math.isfinite(bias)):
            raise ValueError("weights and bias must be finite")
    except PolicyError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise PolicyError(f"{path}: {field}: probe file {probe_path.name} is not usable: {exc}") from exc
    return Probe(weights=tuple(vector.tolist()), bias=bias)


def parse_categories(raw: Any, path: Path, policies_dir: Path) -> tuple[Category, ...]:
    """Validate the parsed YAML of classifier.yaml; raises `PolicyError` naming `path` and the field."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping with a `categories` list at the top level")
    try:
        file = _File.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(path, exc, raw) from exc
    categories: list[Category] = []
    seen: set[str] = set()
    for index, item in enumerate(file.categories):
        if "probe" in item:
            raise PolicyError(f"{path}: categories[{index}].probe: not a category field (use scoring.probe)")
        try:
            category = Category.model_validate(item)
        except ValidationError as exc:
            raise _first_error(path, exc, raw, ("categories", index)) from exc
        if category.id in seen:
            raise PolicyError(f"{path}: categories[{index}].id: duplicate category id '{category.id}'")
        seen.add(category.id)
        if isinstance(category.scoring, LinearProbeScoring):
            category = category.model_copy(update={"probe": _read_probe(policies_dir, path, index, category)})
        categories.append(category)
    return tuple(categories)


def load_categories(policies_dir: Path) -> CategoryPolicy:
    """Load and validate `<policies_dir>/classifier.yaml` into a frozen `CategoryPolicy`."""
    path = policies_dir / FILENAME
    categories = parse_categories(read_yaml(path), path, policies_dir)
    return CategoryPolicy(
        categories=categories, policy_version=policy_version(policies_dir), source=str(path)
    )


register_part("categories", load_categories)
