"""Classifier categories policy: the shipped file loads, and broken copies fail naming the file and field."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from moderation.config import PROJECT_ROOT
from moderation.exceptions import PolicyError
from moderation.policy.categories import FILENAME, CategoryPolicy, LinearProbeScoring, load_categories
from moderation.policy.loader import policy_version

SHIPPED = PROJECT_ROOT / "policies" / FILENAME


def category(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "sample",
        "description": "a sample category",
        "prompts": {"positive": ["a red square"], "negative": ["a blue square"]},
        "scoring": {"method": "softmax", "temperature": 0.01},
        "thresholds": {"review": 0.5, "block": 0.9},
    }
    body.update(overrides)
    return body


Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def write(categories: Any, files: dict[str, bytes] | None = None, *, raw: str | None = None) -> Path:
        for name, data in (files or {}).items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
        text = raw if raw is not None else yaml.safe_dump({"categories": categories}, sort_keys=False)
        (tmp_path / FILENAME).write_text(text)
        return tmp_path

    return write


def probe_bytes(weights: list[float], bias: float = 0.0) -> bytes:
    return json.dumps({"weights": weights, "bias": bias}).encode()


def probe_category(name: str, data: bytes, **overrides: Any) -> dict[str, Any]:
    scoring = {"method": "linear_probe", "probe": name, "sha256": hashlib.sha256(data).hexdigest()}
    return category(prompts={}, scoring=scoring, **overrides)


def test_shipped_categories_load() -> None:
    policy = load_categories(SHIPPED.parent)
    assert isinstance(policy, CategoryPolicy)
    assert {
        "sexual",
        "minor_present",
        "violence_gore",
        "real_person_likeness",
        "hate_symbols",
        "self_harm",
    } <= set(policy.ids)
    assert "minor_present" in policy.child_safety_ids
    assert policy.get("sexual").thresholds.block is None  # adult content is allowed: review-only
    for item in policy.categories:
        assert item.thresholds.block is None or item.thresholds.review <= item.thresholds.block
        assert item.prompts.positive and item.prompts.negative
    assert policy.policy_version == policy_version(SHIPPED.parent)
    assert policy.source == str(SHIPPED)


def test_policy_is_frozen() -> None:
    policy = load_categories(SHIPPED.parent)
    with pytest.raises(ValueError):
        policy.categories[0].thresholds.review = 0.0  # type: ignore[misc]


def test_editing_the_file_changes_the_recorded_version(write: Write) -> None:
    directory = write([category()])
    first = load_categories(directory)
    write([category(thresholds={"review": 0.4, "block": 0.9})])
    second = load_categories(directory)
    assert first.policy_version != second.policy_version
    assert second.get("sample").thresholds.review == 0.4


def test_probe_files_load_from_json_and_npz(write: Write, tmp_path: Path) -> None:
    data = probe_bytes([0.5, -0.25, 1.0], bias=0.1)
    (tmp_path / "probes").mkdir()
    np.savez(tmp_path / "probes" / "b.npz", weights=np.array([1.0, 2.0]), bias=np.array(-1.0))
    npz = (tmp_path / "probes" / "b.npz").read_bytes()
    directory = write(
        [probe_category("probes/a.json", data, id="a"), probe_category("probes/b.npz", npz, id="b")],
        {"probes/a.json": data},
    )
    policy = load_categories(directory)
    first, second = policy.get("a"), policy.get("b")
    assert isinstance(first.scoring, LinearProbeScoring)
    assert first.probe is not None and first.probe.weights == (0.5, -0.25, 1.0) and first.probe.bias == 0.1
    assert second.probe is not None and second.probe.weights == (1.0, 2.0) and second.probe.bias == -1.0


def _broken(mutate: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    body = category()
    mutate(body)
    return [category(id="fine"), body]


CASES: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    (
        "review above block",
        lambda c: c.update(thresholds={"review": 0.9, "block": 0.5}),
        ["categories[1].thresholds", "(category 'sample')", "review (0.9) must be <= block (0.5)"],
    ),
    (
        "threshold above one",
        lambda c: c.update(thresholds={"review": 1.5}),
        ["categories[1].thresholds.review", "1"],
    ),
    (
        "missing review",
        lambda c: c.update(thresholds={"block": 0.5}),
        ["categories[1].thresholds.review", "Field required"],
    ),
    (
        "missing positive prompts",
        lambda c: c.update(prompts={"negative": ["x"]}),
        ["categories[1]", "prompts.positive"],
    ),
    (
        "missing negative prompts",
        lambda c: c.update(prompts={"positive": ["x"]}),
        ["categories[1]", "prompts.negative"],
    ),
    (
        "empty prompt",
        lambda c: c.update(prompts={"positive": [""], "negative": ["x"]}),
        ["categories[1].prompts.positive[0]"],
    ),
    (
        "unknown scoring",
        lambda c: c.update(scoring={"method": "vibes"}),
        ["categories[1].scoring", "'vibes'", "softmax", "linear_probe"],
    ),
    (
        "zero temperature",
        lambda c: c.update(scoring={"method": "softmax", "temperature": 0}),
        ["categories[1].scoring.temperature"],
    ),
    (
        "typo in a key",
        lambda c: c.update(treshold=0.5),
        ["categories[1].treshold", "Extra inputs are not permitted"],
    ),
    ("bad id", lambda c: c.update(id="Not An Id"), ["categories[1].id", "lower_snake_case"]),
    ("missing description", lambda c: c.pop("description"), ["categories[1].description", "Field required"]),
    ("probe at category level", lambda c: c.update(probe="x.json"), ["categories[1].probe", "scoring.probe"]),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[name for name, _, _ in CASES]
)
def test_invalid_categories_name_the_file_and_field(
    write: Write, mutate: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    directory = write(_broken(mutate))
    with pytest.raises(PolicyError) as caught:
        load_categories(directory)
    message = str(caught.value)
    assert message.startswith(f"{directory / FILENAME}: "), message
    for fragment in expected:
        assert fragment in message, message


def test_duplicate_ids(write: Write) -> None:
    with pytest.raises(PolicyError, match=r"categories\[1\]\.id: duplicate category id 'sample'"):
        load_categories(write([category(), copy.deepcopy(category())]))


def test_missing_probe_file(write: Write) -> None:
    directory = write([probe_category("probes/missing.json", b"{}")])
    with pytest.raises(PolicyError) as caught:
        load_categories(directory)
    assert str(caught.value).startswith(str(directory / FILENAME))
    assert "categories[0].scoring.probe (category 'sample')" in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_probe_hash_mismatch(write: Write) -> None:
    data = probe_bytes([1.0])
    body = probe_category("p.json", data)
    body["scoring"]["sha256"] = "a" * 64
    with pytest.raises(
        PolicyError,
        match=r"categories\[0\]\.scoring\.sha256 .*has SHA-256 " + hashlib.sha256(data).hexdigest(),
    ):
        load_categories(write([body], {"p.json": data}))


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("p.json", b"not json", "not usable"),
        ("p.json", json.dumps({"weights": []}).encode(), "not usable"),
        ("p.json", json.dumps({"weights": [], "bias": 0}).encode(), "non-empty"),
        ("p.json", json.dumps({"weights": [[1, 2]], "bias": 0}).encode(), "non-empty flat list"),
        ("p.json", json.dumps({"weights": [1, "x"], "bias": 0}).encode(), "not usable"),
        ("p.txt", b"1 2 3", "must be .json or .npz"),
    ],
)
def test_unusable_probe_files(write: Write, name: str, data: bytes, fragment: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_categories(write([probe_category(name, data)], {name: data}))
    assert "categories[0].scoring.probe" in str(caught.value) and fragment in str(caught.value)


def test_probe_outside_the_policies_directory(write: Write, tmp_path: Path) -> None:
    outside = tmp_path.parent / "outside-probe.json"
    outside.write_bytes(probe_bytes([1.0]))
    with pytest.raises(PolicyError, match="must be inside"):
        load_categories(write([probe_category("../outside-probe.json", outside.read_bytes())]))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("- just\n- a list\n", "expected a mapping"),
        ("categories: {a: 1}\n", "categories"),
        ("other: 1\n", "categories: Field required"),
        ("categories: [\n", "not valid YAML"),
    ],
)
def test_malformed_files(write: Write, raw: str, fragment: str) -> None:
    with pytest.raises(PolicyError, match=FILENAME) as caught:
        load_categories(write(None, raw=raw))
    assert fragment in str(caught.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"classifier\.yaml: policy file is missing"):
        load_categories(tmp_path)


def test_models_name_who_scores_a_category_and_with_which_thresholds(write: Write) -> None:
    own = {"model": "open_nsfw", "thresholds": {"review": 0.7, "block": 0.95}}
    policy = load_categories(
        write(
            [
                category(id="explicit", models=[own, {"model": "open_clip"}]),
                category(id="clip_only"),
                category(id="bundled_only", models=[{"model": "open_nsfw"}], prompts={}, scoring=None),
            ]
        )
    )
    explicit = policy.get("explicit")
    assert explicit.model_ids == ("open_nsfw", "open_clip")
    assert (explicit.thresholds_for("open_nsfw").review, explicit.thresholds_for("open_nsfw").block) == (
        0.7,
        0.95,
    )
    assert explicit.thresholds_for("open_clip").review == 0.5
    assert policy.get("clip_only").model_ids == ("open_clip",)
    assert policy.for_model("open_nsfw").ids == ("explicit", "bundled_only")
    assert policy.for_model("open_clip").ids == ("explicit", "clip_only")
    assert policy.uses("open_nsfw") and not policy.for_model("open_clip").for_model("x").uses("open_clip")


@pytest.mark.parametrize(
    ("models", "extra", "fragment"),
    [
        ([{"model": "open_nsfw"}, {"model": "open_nsfw"}], {}, "models lists a model twice"),
        ([{"model": "resnet"}], {}, "models[0].model"),
        ([], {}, "models"),
        ([{"model": "open_clip"}], {"scoring": None, "prompts": {}}, "open_clip needs `scoring`"),
        ([{"model": "open_nsfw", "thresholds": {"review": 0.9, "block": 0.5}}], {}, "must be <="),
    ],
)
def test_invalid_models_name_the_field(
    write: Write, models: Any, extra: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(PolicyError) as exc:
        load_categories(write([category(models=models, **extra)]))
    assert fragment in str(exc.value) and "(category 'sample')" in str(exc.value), str(exc.value)
