"""Tiny open_clip model (random weights, saved to a temp file) and policy factories for classifier tests.

Nothing here touches the hub: the model config is a JSON file named by MODERATION_CLIP_MODEL and the
weights are loaded through MODERATION_CLIP_WEIGHTS, exactly as on an offline production server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from moderation.classifier import model as model_module  # imports the torchvision shim first
from moderation.classifier.runtime import ClassifierRuntime
from moderation.config import Settings
from moderation.policy.categories import CategoryPolicy, load_categories

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class TinyModel:
    config: Path
    weights_pt: Path
    weights_safetensors: Path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    import open_clip
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("tiny_clip")
    config = root / "tiny-clip-test.json"
    config.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(1234)
    model = open_clip.create_model("tiny-clip-test", pretrained=None)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, root / "tiny.pt")
    save_file(state, str(root / "tiny.safetensors"))
    assert model_module.open_clip is open_clip
    return TinyModel(config, root / "tiny.pt", root / "tiny.safetensors")


def softmax_category(
    cid: str,
    positive: list[str],
    negative: list[str],
    review: float,
    block: float | None,
    temperature: float = 0.01,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": cid,
        "description": f"test category {cid}",
        "prompts": {"positive": positive, "negative": negative},
        "scoring": {"method": "softmax", "temperature": temperature},
        "thresholds": {"review": review, "block": block},
        **extra,
    }


PolicyFactory = Callable[..., CategoryPolicy]


@pytest.fixture
def make_policy(tmp_path: Path) -> PolicyFactory:
    """Write classifier.yaml (and probe files) into a fresh policies dir and load it."""
    counter = iter(range(1000))

    def make(
        categories: list[dict[str, Any]], probes: dict[str, dict[str, Any]] | None = None
    ) -> CategoryPolicy:
        directory = tmp_path / f"policies{next(counter)}"
        directory.mkdir()
        for name, body in (probes or {}).items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(json.dumps(body))
        (directory / "classifier.yaml").write_text(
            yaml.safe_dump({"categories": categories}, sort_keys=False)
        )
        return load_categories(directory)

    return make


@pytest.fixture
def basic_policy(make_policy: PolicyFactory) -> CategoryPolicy:
    return make_policy(
        [
            # Identical prompts make the softmax score exact: 1 positive of 2 -> 0.5, 3 of 4 -> 0.75.
            softmax_category("half", ["a photo"], ["a photo"], review=0.5, block=0.6),
            softmax_category("three_quarters", ["a photo"] * 3, ["a photo"], review=0.2, block=0.7),
            softmax_category(
                "red_vs_blue",
                ["a red square"],
                ["a blue square", "a green field"],
                0.5,
                None,
                temperature=0.05,
                child_safety=True,
            ),
        ]
    )


def tiny_settings(tiny: TinyModel, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "clip_model": str(tiny.config),
        "clip_weights": tiny.weights_pt,
        "clip_threads": 1,
        "classifier_batch_size": 16,
        "classifier_max_wait_ms": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


RuntimeFactory = Callable[..., ClassifierRuntime]


@pytest.fixture
def make_runtime(tiny_model: TinyModel, basic_policy: CategoryPolicy) -> Iterator[RuntimeFactory]:
    """Start a runtime on the tiny model and wait for it to settle; closed after the test."""
    started: list[ClassifierRuntime] = []

    def make(
        policy: CategoryPolicy | None = None, *, wait: bool = True, **overrides: Any
    ) -> ClassifierRuntime:
        runtime = ClassifierRuntime(tiny_settings(tiny_model, **overrides), policy or basic_policy)
        started.append(runtime)
        runtime.start()
        if wait:
            runtime.wait_settled(30)
        return runtime

    yield make
    for runtime in started:
        runtime.close()
