"""Per-category availability and the two shipped decision profiles, through the service's
`CombinedClassifier` with scripted model runtimes (the real merge, the real policies)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from moderation.classifier.combined import CombinedClassifier
from moderation.classifier.interface import ClassifierUnavailable
from moderation.classifier.results import CategoryScore, ClassifierResult, ModelInfo
from moderation.config import PROJECT_ROOT, get_settings
from moderation.policy.categories import CategoryPolicy, load_categories
from tests.factories import jpeg

POLICIES = PROJECT_ROOT / "policies"


class ScriptedModel:
    """A model runtime whose scores the test sets (one score for every category it scores)."""

    def __init__(self, model_id: str, categories: CategoryPolicy, score: float, state: str = "ready") -> None:
        self.model_id, self.categories, self.score, self.state = model_id, categories, score, state

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": None if self.state == "ready" else "scripted",
            "model": self.model_id,
        }

    @property
    def info(self) -> ModelInfo | None:
        return ModelInfo(id=self.model_id, version=f"{self.model_id}-test", sha256="0" * 64)

    def set_categories(self, categories: CategoryPolicy) -> None:
        self.categories = categories

    def wait_settled(self, timeout: float | None = None) -> dict[str, Any]:
        return self.status()

    async def classify(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        return self.classify_sync(images)

    def classify_sync(
        self, images: list[Image.Image], *, with_embeddings: bool | None = None
    ) -> list[ClassifierResult]:
        if self.state != "ready":
            raise ClassifierUnavailable("scripted", details={"state": self.state})
        scored = tuple(
            CategoryScore(c.id, self.score, False, False, c.child_safety) for c in self.categories.categories
        )
        return [ClassifierResult(categories=scored, model=self.model_id, policy_version="t") for _ in images]


def combined(explicit: float | None, clip: float | None) -> CombinedClassifier:
    """open_nsfw scoring `explicit` (None: not configured), open_clip scoring `clip` on its categories."""
    categories = load_categories(POLICIES)
    runtimes: dict[str, Any] = {}
    missing = {}
    for model_id, score in (("open_nsfw", explicit), ("open_clip", clip)):
        if score is None:
            missing[model_id] = "not configured in this test"
        else:
            runtimes[model_id] = ScriptedModel(model_id, categories.for_model(model_id), score)
    return CombinedClassifier(categories, runtimes, missing)


@pytest.fixture
def profile_client(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, CombinedClassifier], TestClient]:
    from moderation.app import create_app

    managers: list[Any] = []

    def make(profile: str, classifier: CombinedClassifier) -> TestClient:
        monkeypatch.setenv("MODERATION_POLICY_PROFILE", profile)
        get_settings.cache_clear()
        manager = TestClient(create_app(get_settings()), raise_server_exceptions=False)
        client = manager.__enter__()
        managers.append(manager)
        app: Any = client.app
        app.state.check_context.classifier = classifier
        return client

    yield make
    for manager in managers:
        manager.__exit__(None, None, None)


def _check(client: TestClient, headers: dict[str, str], seed: int, source: str | None = None) -> Any:
    form = {"metadata": json.dumps({"source": source})} if source else {}
    response = client.post(
        "/v1/check", headers=headers, files={"file": ("x.jpg", jpeg(seed), "image/jpeg")}, data=form
    )
    assert response.status_code == 200, response.text
    return response.json()


def _rules(body: Any) -> set[str]:
    return {r["rule"] for r in body["reasons"] if r["decision"] != "allow"}


# (profile, explicit score, clip score, source) -> decision and the rule behind it
CASES = [
    # Only the bundled model runs: general reviews at 0.7, blocks at 0.95; minor_present is unscored.
    ("general", 0.05, None, None, "allow", set()),
    ("general", 0.75, None, None, "review", {"classifier.review"}),
    ("general", 0.97, None, "upload", "block", {"classifier.block"}),
    # Adult: explicit content is allowed (labelled); generated/unknown explicit content goes to review
    # while no model can score minor_present; uploads are allowed.
    ("adult", 0.97, None, "upload", "allow", set()),
    ("adult", 0.97, None, "generated", "review", {"classifier.sexual_minor_unscored"}),
    ("adult", 0.05, None, "generated", "allow", set()),
    # With open_clip too, minor_present is scored: explicit + minor signal blocks, explicit alone is allowed.
    (
        "adult",
        0.97,
        0.9,
        "generated",
        "block",
        {"classifier.sexual_with_minor", "classifier.block", "classifier.review"},
    ),
    ("adult", 0.97, 0.01, "generated", "allow", set()),
    # No model for `sexual` at all (bundled model missing) but open_clip ready at low scores:
    # its softmax threshold (0.97) does not fire, so sexual is scored by open_clip.
    ("general", None, 0.01, "generated", "allow", set()),
]


@pytest.mark.parametrize(("profile", "explicit", "clip", "source", "decision", "rules"), CASES)
def test_profiles_decide_per_category_availability(
    profile_client: Callable[[str, CombinedClassifier], TestClient],
    auth: Callable[[str], dict[str, str]],
    profile: str,
    explicit: float | None,
    clip: float | None,
    source: str | None,
    decision: str,
    rules: set[str],
) -> None:
    client = profile_client(profile, combined(explicit, clip))
    body = _check(client, auth("checker"), seed=7, source=source)
    assert body["decision"] == decision, body["reasons"]
    assert _rules(body) == rules
    sexual = next(c for c in body["classifier"]["categories"] if c["id"] == "sexual")
    assert sexual["model"] == ("open_nsfw" if explicit is not None else "open_clip")


def test_adult_profile_labels_allowed_explicit_content(
    profile_client: Callable[[str, CombinedClassifier], TestClient], auth: Callable[[str], dict[str, str]]
) -> None:
    client = profile_client("adult", combined(0.8, 0.01))
    body = _check(client, auth("checker"), seed=3, source="generated")
    assert body["decision"] == "allow"
    label = next(r for r in body["reasons"] if r["rule"] == "classifier.sexual.label")
    assert label["label"] == "explicit" and label["model"] == "open_nsfw" and label["threshold"] == 0.7


def test_unscored_explicit_category_follows_the_profile_per_source(
    profile_client: Callable[[str, CombinedClassifier], TestClient], auth: Callable[[str], dict[str, str]]
) -> None:
    categories = load_categories(POLICIES)
    # open_clip is ready but scores nothing for `sexual` (as if its policy had no entry for it).
    clip = ScriptedModel("open_clip", categories.for_model("open_clip"), 0.01)
    clip.categories = clip.categories.model_copy(
        update={"categories": tuple(c for c in clip.categories.categories if c.id != "sexual")}
    )
    classifier = CombinedClassifier(categories, {"open_clip": clip}, {"open_nsfw": "failed to load: test"})
    client = profile_client("general", classifier)
    generated = _check(client, auth("checker"), seed=4, source="generated")
    assert generated["decision"] == "review"
    reason = next(r for r in generated["reasons"] if r["kind"] == "classifier_unscored")
    assert (
        reason["category"] == "sexual" and "open_nsfw: unavailable (failed to load: test)" in reason["reason"]
    )
    assert _check(client, auth("checker"), seed=5, source="upload")["decision"] == "allow"
    stored = generated["classifier"]["unscored"]
    assert [u["id"] for u in stored] == ["sexual"]


def test_cached_check_is_redone_when_a_missing_model_can_now_score(
    profile_client: Callable[[str, CombinedClassifier], TestClient], auth: Callable[[str], dict[str, str]]
) -> None:
    client = profile_client("general", combined(0.05, None))
    headers = auth("checker")
    first = _check(client, headers, seed=9)
    assert [u["id"] for u in first["classifier"]["unscored"]][:1] == ["minor_present"]
    assert _check(client, headers, seed=9)["cached"] is True
    app: Any = client.app
    app.state.check_context.classifier = combined(0.05, 0.01)
    again = _check(client, headers, seed=9)
    assert again["cached"] is False and again["classifier"]["unscored"] == []
    assert again["classifier"]["model"] == "open_clip+open_nsfw"
