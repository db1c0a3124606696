"""ClassifierRuntime on the tiny model: loading states, scores, thresholds, embeddings, bad input."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from moderation.classifier.interface import ClassifierState, ClassifierUnavailable, ImageClassifier
from moderation.classifier.model import LoadedModel
from moderation.classifier.runtime import ClassifierRuntime
from moderation.exceptions import CorruptImage, EmptyImage, PolicyError
from moderation.policy.categories import CategoryPolicy

from .conftest import TINY_CONFIG, PolicyFactory, RuntimeFactory, TinyModel, softmax_category, tiny_settings


def solid(color: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> Image.Image:
    return Image.new("RGB", size, color)


def gradient(seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float64)
    pixels = np.stack(
        [np.add.outer(ramp, ramp) / 2, rng.uniform(0, 255, (size, size)), np.tile(ramp, (size, 1))], -1
    )
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def test_ready_through_environment_settings(
    tiny_model: TinyModel, basic_policy: CategoryPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATION_CLIP_MODEL", str(tiny_model.config))
    monkeypatch.setenv("MODERATION_CLIP_WEIGHTS", str(tiny_model.weights_pt))
    from moderation.config import Settings

    runtime = ClassifierRuntime(Settings(), basic_policy)
    assert isinstance(runtime, ImageClassifier)
    assert runtime.status()["state"] == "unavailable" and runtime.status()["reason"] == "not started"
    runtime.start()
    try:
        status = runtime.wait_settled(30)
        assert status["state"] == "ready", status
        assert status["reason"] is None
        assert status["model"].startswith("tiny-clip-test@sha256:")
        assert status["loaded_in_s"] > 0
        assert status["policy_version"] == basic_policy.policy_version
        assert status["required"] is False
    finally:
        runtime.close()
    assert runtime.status()["state"] == "unavailable" and runtime.status()["reason"] == "closed"


def test_safetensors_weights_give_the_same_scores(
    make_runtime: RuntimeFactory, tiny_model: TinyModel
) -> None:
    image = gradient(3)
    from_pt = make_runtime().classify_sync([image])[0]
    from_st = make_runtime(clip_weights=tiny_model.weights_safetensors).classify_sync([image])[0]
    assert from_pt.model == from_st.model.replace(from_st.model.split("@")[1], from_pt.model.split("@")[1])
    for a, b in zip(from_pt.categories, from_st.categories, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-6)


def test_results_have_every_category_model_and_policy_version(
    make_runtime: RuntimeFactory, basic_policy: CategoryPolicy
) -> None:
    runtime = make_runtime()
    results = runtime.classify_sync([solid((200, 0, 0)), gradient(1)])
    assert len(results) == 2
    for result in results:
        assert [c.id for c in result.categories] == ["half", "three_quarters", "red_vs_blue"]
        assert result.model == runtime.status()["model"]
        assert result.policy_version == basic_policy.policy_version
        assert all(0.0 <= c.score <= 1.0 for c in result.categories)
        body = result.to_dict()
        assert set(body["scores"]) == {"half", "three_quarters", "red_vs_blue"}
        assert "embedding" not in body


def test_thresholds_fire_at_exact_scores(make_runtime: RuntimeFactory) -> None:
    result = make_runtime().classify_sync([gradient(2)])[0]
    half, three_quarters = result.categories[0], result.categories[1]
    assert half.score == pytest.approx(0.5, abs=1e-6)
    assert (half.review, half.block) == (True, False)  # review 0.5 reached, block 0.6 not
    assert three_quarters.score == pytest.approx(0.75, abs=1e-6)
    assert (three_quarters.review, three_quarters.block) == (True, True)
    assert "half" in result.review and "three_quarters" in result.block and "half" not in result.block
    assert result.categories[2].child_safety is True
    assert result.categories[2].block is False  # block: null never fires


def test_softmax_score_matches_a_direct_open_clip_computation(
    make_runtime: RuntimeFactory, tiny_model: TinyModel
) -> None:
    runtime = make_runtime()
    image = gradient(5)
    result = runtime.classify_sync([image], with_embeddings=True)[0]

    model, _, preprocess = open_clip.create_model_and_transforms(
        "tiny-clip-test", pretrained=str(tiny_model.weights_pt)
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer("tiny-clip-test")
    with torch.no_grad():
        image_embedding = model.encode_image(preprocess(image).unsqueeze(0), normalize=True)[0]
        text = model.encode_text(
            tokenizer(["a red square", "a blue square", "a green field"]), normalize=True
        )
    probabilities = torch.softmax((text @ image_embedding) / 0.05, dim=0)
    assert result.scores["red_vs_blue"] == pytest.approx(float(probabilities[0]), abs=1e-5)
    assert result.embedding is not None
    assert np.allclose(result.embedding, image_embedding.numpy(), atol=1e-5)


def test_linear_probe_scores(make_runtime: RuntimeFactory, make_policy: PolicyFactory) -> None:
    red, blue = solid((220, 10, 10)), solid((10, 10, 220))
    reference = make_runtime().classify_sync([red], with_embeddings=True)[0].embedding
    assert reference is not None
    weights = [10.0 * x for x in reference]
    probes: dict[str, dict[str, object]] = {
        "probes/constant.json": {"weights": [0.0] * 32, "bias": 2.0},
        "probes/like_red.json": {"weights": weights, "bias": -5.0},
    }

    def digest(body: dict[str, object]) -> str:
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()

    policy = make_policy(
        [
            {
                "id": "constant",
                "description": "bias only",
                "scoring": {
                    "method": "linear_probe",
                    "probe": "probes/constant.json",
                    "sha256": digest(probes["probes/constant.json"]),
                },
                "thresholds": {"review": 0.8, "block": 0.9},
            },
            {
                "id": "like_red",
                "description": "close to the red reference",
                "scoring": {
                    "method": "linear_probe",
                    "probe": "probes/like_red.json",
                    "sha256": digest(probes["probes/like_red.json"]),
                },
                "thresholds": {"review": 0.5, "block": 0.99},
            },
        ],
        probes=probes,
    )
    runtime = make_runtime(policy)
    on_red, on_blue = runtime.classify_sync([red, blue], with_embeddings=True)
    sigmoid = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    assert on_red.scores["constant"] == pytest.approx(sigmoid(2.0), abs=1e-6)
    assert (on_red.categories[0].review, on_red.categories[0].block) == (True, False)
    assert on_red.scores["like_red"] == pytest.approx(sigmoid(10.0 - 5.0), abs=1e-4)
    assert on_blue.embedding is not None
    expected_blue = sigmoid(float(np.dot(weights, on_blue.embedding)) - 5.0)
    assert on_blue.scores["like_red"] == pytest.approx(expected_blue, abs=1e-4)
    assert on_blue.scores["like_red"] < on_red.scores["like_red"]


def test_embeddings_follow_the_setting_and_the_argument(make_runtime: RuntimeFactory) -> None:
    plain = make_runtime()
    assert plain.classify_sync([gradient(1)])[0].embedding is None
    with_embedding = plain.classify_sync([gradient(1)], with_embeddings=True)[0]
    assert with_embedding.embedding is not None and len(with_embedding.embedding) == 32
    assert math.isclose(float(np.linalg.norm(with_embedding.embedding)), 1.0, abs_tol=1e-5)
    assert "embedding" in with_embedding.to_dict()
    storing = make_runtime(store_embeddings=True)
    assert storing.classify_sync([gradient(1)])[0].embedding is not None
    assert storing.classify_sync([gradient(1)], with_embeddings=False)[0].embedding is None


def test_prompts_are_embedded_once_per_policy_version(
    make_runtime: RuntimeFactory, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    original = LoadedModel.encode_texts

    def counting(self: LoadedModel, prompts: list[str]) -> torch.Tensor:
        calls.append(prompts)
        return original(self, prompts)

    monkeypatch.setattr(LoadedModel, "encode_texts", counting)
    runtime = make_runtime()
    assert len(calls) == 1  # at load, not per request
    assert sorted(calls[0]) == ["a blue square", "a green field", "a photo", "a red square"]  # deduplicated
    for seed in range(3):
        runtime.classify_sync([gradient(seed)])
    asyncio.run(runtime.classify([gradient(9)]))
    assert len(calls) == 1

    updated = make_policy([softmax_category("other", ["a cat"], ["a dog"], 0.5, 0.9)])
    runtime.set_categories(updated)
    first = runtime.classify_sync([gradient(1)])[0]
    runtime.classify_sync([gradient(2)])
    assert len(calls) == 2 and calls[1] == ["a cat", "a dog"]
    assert first.policy_version == updated.policy_version
    assert list(first.scores) == ["other"]


def test_probe_of_the_wrong_size_makes_the_classifier_unavailable(
    make_runtime: RuntimeFactory, make_policy: PolicyFactory
) -> None:
    body = {"weights": [0.1] * 16, "bias": 0.0}
    digest = hashlib.sha256(json.dumps(body).encode()).hexdigest()
    policy = make_policy(
        [
            {
                "id": "p",
                "description": "d",
                "scoring": {"method": "linear_probe", "probe": "p.json", "sha256": digest},
                "thresholds": {"review": 0.5},
            }
        ],
        probes={"p.json": body},
    )
    status = make_runtime(policy).status()
    assert status["state"] == "unavailable"
    assert "probe has 16 weights" in status["reason"] and "32 dimensions" in status["reason"]

    runtime = make_runtime()
    with pytest.raises(PolicyError, match="probe has 16 weights"):
        runtime.set_categories(policy)


def test_unavailable_quickly_when_offline_without_weights(
    basic_policy: CategoryPolicy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    from moderation.config import Settings

    runtime = ClassifierRuntime(
        Settings(clip_model="ViT-B-32", clip_pretrained="laion2b_s34b_b79k", clip_weights=None), basic_policy
    )
    started = time.perf_counter()
    runtime.start()
    status = runtime.wait_settled(10)
    elapsed = time.perf_counter() - started
    try:
        assert status["state"] == "unavailable", status
        assert elapsed < 5, f"took {elapsed:.1f} s"
        assert "HF_HUB_OFFLINE" in status["reason"] and "ViT-B-32@laion2b_s34b_b79k" in status["reason"]
        with pytest.raises(ClassifierUnavailable) as caught:
            runtime.classify_sync([solid((1, 2, 3))])
        assert caught.value.code == "classifier_unavailable" and caught.value.status == 503
        assert caught.value.details["state"] == "unavailable"
        with pytest.raises(ClassifierUnavailable):
            asyncio.run(runtime.classify([solid((1, 2, 3))]))
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"clip_weights": Path("/nonexistent/weights.pt")},
            "weights file /nonexistent/weights.pt does not exist",
        ),
        ({"clip_model": "no-such-architecture"}, "unknown open_clip model 'no-such-architecture'"),
        ({"clip_weights": None, "clip_pretrained": "no-such-tag"}, "unknown pretrained tag 'no-such-tag'"),
    ],
)
def test_bad_model_settings_make_it_unavailable_with_a_reason(
    make_runtime: RuntimeFactory, overrides: dict[str, object], reason: str
) -> None:
    status = make_runtime(**overrides).status()
    assert status["state"] == "unavailable"
    assert reason in status["reason"]


def test_weights_of_another_architecture_make_it_unavailable(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:

    other = tmp_path / "tiny-other.json"
    other.write_text(json.dumps({**TINY_CONFIG, "embed_dim": 48}))
    status = make_runtime(clip_model=str(other)).status()
    assert status["state"] == "unavailable"
    assert "loading tiny-other@sha256:" in status["reason"] and "size mismatch" in status["reason"]


def test_disabled_classifier_never_loads(tiny_model: TinyModel, basic_policy: CategoryPolicy) -> None:
    runtime = ClassifierRuntime(tiny_settings(tiny_model, classifier_enabled=False), basic_policy)
    runtime.start()
    assert runtime.wait_settled(0.1)["state"] == "disabled"
    assert runtime.state is ClassifierState.DISABLED
    with pytest.raises(ClassifierUnavailable) as caught:
        runtime.classify_sync([solid((0, 0, 0))])
    assert caught.value.details["state"] == "disabled"
    runtime.close()
    assert runtime.status()["state"] == "disabled"


def test_classify_during_loading_is_unavailable_not_blocking(
    tiny_model: TinyModel, basic_policy: CategoryPolicy
) -> None:
    runtime = ClassifierRuntime(tiny_settings(tiny_model), basic_policy)
    runtime.start()
    try:
        if runtime.state is ClassifierState.LOADING:
            with pytest.raises(ClassifierUnavailable, match="loading"):
                runtime.classify_sync([solid((0, 0, 0))])
        assert runtime.wait_settled(30)["state"] == "ready"
    finally:
        runtime.close()
    with pytest.raises(ClassifierUnavailable, match="closed"):
        runtime.classify_sync([solid((0, 0, 0))])


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1", "CMYK", "I;16", "I", "F"])
def test_every_common_image_mode_is_classified(make_runtime: RuntimeFactory, mode: str) -> None:
    runtime = make_runtime()
    image = (
        gradient(4).convert("L").convert(mode) if mode in {"I;16", "I", "F"} else gradient(4).convert(mode)
    )
    result = runtime.classify_sync([image])[0]
    assert all(0.0 <= score <= 1.0 for score in result.scores.values())


def test_bad_images_give_stable_error_codes(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime()
    with pytest.raises(EmptyImage) as empty:
        runtime.classify_sync([solid((1, 1, 1)), Image.new("RGB", (0, 0))])
    assert empty.value.code == "empty_image" and empty.value.details == {"index": 1}

    buffer = io.BytesIO()
    gradient(6, size=64).save(buffer, format="PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))
    with pytest.raises(CorruptImage) as corrupt:
        asyncio.run(runtime.classify([truncated]))
    assert corrupt.value.code == "corrupt_image"
    assert runtime.classify_sync([solid((5, 5, 5))])  # still serving
